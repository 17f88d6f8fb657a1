"""The simple API in-process: /synthesize and /synthesize/stream.

In-process over fake engines (tests/helpers/gateway.py); the served tier keeps the end-to-end paths.
"""

from __future__ import annotations

import pytest

from deployments.kokoro.protocol import KokoroRequest
from tests.helpers.errors import JSON, assert_error
from tests.helpers.fake_engines import (
    SAMPLE_RATE,
)
from tests.helpers.gateway import (
    cloned,
    read_wav,
    serve_gateway,
    spoken_samples,
)

# -- the simple API: /synthesize, /synthesize/stream ----------------------------------------------

BAD_SIMPLE = [
    ({"text": ""}, "text", "text"),
    ({"text": "   "}, "text", "text"),
    ({"text": "hi", "format": "mp3"}, "format", "wav"),
    ({"text": "hi", "voice": "nobody"}, "voice", "not found"),
    ({"text": "hi", "voice": "jf_alpha(2)+"}, "voice", "blend"),
    ({"text": "hi", "speed": 2}, "speed", "unrecognized"),
    ({}, "text", "missing"),
    ({"text": 7}, "text", "string"),
]


@pytest.mark.parametrize("path", ["/synthesize", "/synthesize/stream"])
@pytest.mark.parametrize("body, param, words", BAD_SIMPLE)
def test_bad_simple_requests(client, path, body, param, words):
    assert_error(client.post(path, json=body), 400, param, words)


@pytest.mark.parametrize("path", ["/synthesize", "/synthesize/stream"])
def test_simple_text_limit_and_content_type(tmp_path, path):
    gw = serve_gateway(tmp_path, max_simple_text_chars=20)
    assert gw.client.post(path, json={"text": "a" * 20}).status_code == 200
    assert_error(gw.client.post(path, json={"text": "a" * 21}), 400, "text", "limit is 20")
    assert_error(gw.client.post(path, content=b'{"text": "hi"}', headers={"Content-Type": "text/plain"}), 400, None,
                 "content-type")
    assert_error(gw.client.post(path, content=b'{"text": ', headers=JSON), 400, None, "json")


def test_synthesize_returns_a_wav_attachment(gw):
    text = "Good morning, everyone."
    response = gw.client.post("/synthesize", json={"text": text, "voice": "jm_kumo"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["content-disposition"] == "attachment; filename=speech.wav"
    samples, rate = read_wav(response.content)
    assert rate == SAMPLE_RATE and len(samples) == spoken_samples(text)
    assert gw.kokoro.requests("synthesize") == [KokoroRequest(text=text, voice="jm_kumo")]


def test_synthesize_stream_returns_wav_bytes(gw):
    text = "Good morning. Have a good day."
    response = gw.client.post("/synthesize/stream", json={"text": text, "format": "wav"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert "filename=speech.wav" in response.headers["content-disposition"]
    assert response.content[:4] == b"RIFF" and len(response.content) == 44 + 2 * spoken_samples(text)
    samples, rate = read_wav(response.content)
    assert rate == SAMPLE_RATE and len(samples) == spoken_samples(text)
    assert gw.kokoro.requests("stream") == [KokoroRequest(text=text, voice="jf_alpha")]


def test_simple_api_speaks_only_kokoro(gw):
    cloned(gw.client, "Narrator")
    assert_error(gw.client.post("/synthesize", json={"text": "Hi.", "voice": "Narrator"}), 400, "voice", "not found")
    assert gw.kokoro.requests("synthesize")[-1].voice == "Narrator"  # Kokoro was asked, and knows no such pack
    assert len(gw.chatterbox.requests("synthesize")) == 1  # only the clone's sample
