"""/dev/captioned_speech in-process: whole answers, a line per piece, errors.

In-process over fake engines (tests/helpers/gateway.py); the served tier keeps the end-to-end paths.
"""

from __future__ import annotations

import base64
import json

from tests.helpers.errors import assert_error
from tests.helpers.fake_engines import (
    SAMPLE_RATE,
    FakeKokoro,
    MidStreamFailingKokoro,
    sentences,
)
from tests.helpers.gateway import (
    CAPTIONED,
    read_wav,
    serve_gateway,
    spoken_samples,
)

# -- /dev/captioned_speech ----------------------------------------------------------------------



def test_captioned_speech_whole(gw):
    text = "Hello there. How are you today?"
    response = gw.client.post(CAPTIONED, json={"input": text, "voice": "jm_kumo", "response_format": "wav",
                                               "stream": False})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["audio_format"] == "wav"
    samples, rate = read_wav(base64.b64decode(body["audio"]))
    assert rate == SAMPLE_RATE and len(samples) == spoken_samples(text)
    assert [w["word"] for w in body["timestamps"]] == text.split()
    starts = [w["start_time"] for w in body["timestamps"]]
    assert starts == sorted(starts) and body["timestamps"][-1]["end_time"] <= len(samples) / rate + 1e-3
    (request,) = gw.kokoro.requests("synthesize")
    assert request.word_timestamps is True


def test_captioned_speech_streams_a_line_per_piece(gw):
    text = "Hello there. How are you today?"
    response = gw.client.post(CAPTIONED, json={"input": text, "response_format": "pcm"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [[w["word"] for w in line["timestamps"]] for line in lines] == [s.split() for s in sentences(text)]
    assert sum(len(base64.b64decode(line["audio"])) for line in lines) == 2 * spoken_samples(text)
    assert gw.kokoro.requests("stream")[0].word_timestamps is True


def test_captioned_speech_error_after_the_first_line_is_an_error_line(tmp_path):
    gw = serve_gateway(tmp_path, kokoro=MidStreamFailingKokoro())
    response = gw.client.post(CAPTIONED, json={"input": "One. Two.", "response_format": "pcm"})
    assert response.status_code == 200  # the status was sent with the first line
    *pieces, last = [json.loads(line) for line in response.text.splitlines()]
    assert len(pieces) == 1 and [w["word"] for w in pieces[0]["timestamps"]] == ["One."]
    # The last line is the error in the API's shape, as the SSE stream's error event carries it.
    assert set(last) == {"error"} and last["error"]["type"] == "server_error"
    assert "mid-stream" in last["error"]["message"]


def test_captioned_speech_errors(tmp_path):
    gw = serve_gateway(tmp_path, kokoro=FakeKokoro(returns_durations=False))
    assert_error(gw.client.post(CAPTIONED, json={"input": "Hi."}), 400, "return_timestamps", "torch")
    response = gw.client.post(CAPTIONED, json={"input": "Hi.", "return_timestamps": False, "stream": False,
                                               "response_format": "wav"})
    assert response.status_code == 200 and response.json()["timestamps"] == []
    assert_error(gw.client.post(CAPTIONED, json={"input": "Hi.", "model": "chatterbox"}), 400, "model", "kokoro")
    assert_error(gw.client.post(CAPTIONED, json={"input": ""}), 400, "input", "text")
    assert_error(gw.client.post(CAPTIONED, json={"input": "Hi.", "return_timestamps": "yes please"}), 400,
                 "return_timestamps", "boolean")
    assert_error(gw.client.post(CAPTIONED, content=b"input=hi", headers={"Content-Type": "text/plain"}), 400, None,
                 "content-type")
