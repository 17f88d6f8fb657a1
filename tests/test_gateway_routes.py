"""The fast tier: every gateway route in-process (FastAPI's TestClient) over fake engine handles.

No Ray cluster and no models: the real app from ingress.gateway.create_api, the real operations core
and voice library (in tmp_path), and the fakes of tests/fake_engines.py behind Operations.from_handles.
These tests cover validation and error shapes; the real-Serve tests keep the end-to-end paths.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
from fastapi import FastAPI
from fastapi.testclient import TestClient

from deployments.chatterbox.protocol import ChatterboxParams, ChatterboxRequest, PreparedVoice
from deployments.conversion.protocol import S3GenRequest
from deployments.kokoro.protocol import KokoroRequest
from deployments.s3gen.protocol import LibraryVoice, ReferenceAudio
from ingress.auth import BearerKeys, key_digest
from ingress.gateway import create_api
from ingress.settings import GatewaySettings
from ingress.speech import service as speech_service
from ingress.system import router as system_router
from operations.core import Operations
from stores.voice_library.settings import VoiceLibrarySettings
from tests.audio_checks import wav_bytes
from tests.fake_engines import (
    SAMPLE_RATE,
    SECONDS_PER_WORD,
    FakeChatterbox,
    FakeConversion,
    FakeKokoro,
    fake_handles,
    sentences,
)
from tests.test_errors import BAD_SPEECH_REQUESTS

JSON = {"Content-Type": "application/json"}
SPEECH = "/v1/audio/speech"
CONVERSIONS = "/v1/audio/conversions"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
               405: "invalid_request_error", 413: "invalid_request_error", 503: "service_unavailable",
               504: "timeout_error"}
KOKORO_PACKS = {"jf_alpha", "jm_kumo"}
UNSET_KEYS_ENV = "CHORUS_TEST_GATEWAY_ROUTES_NO_KEYS"


# -- the gateway under test -----------------------------------------------------------------------

@dataclass
class Served:
    app: FastAPI
    client: TestClient
    kokoro: FakeKokoro
    chatterbox: FakeChatterbox
    conversion: FakeConversion
    library: Path

    def stored(self) -> list[str]:
        """The voice library's directory, as names (to show that a failure stored nothing)."""
        return sorted(path.name for path in self.library.iterdir() if path.name != ".lock")


def serve_gateway(tmp_path: Path, kokoro: FakeKokoro | None = None, chatterbox: FakeChatterbox | None = None,
                  conversion: FakeConversion | None = None, keys: BearerKeys | None = None, **gateway) -> Served:
    kokoro, chatterbox = kokoro or FakeKokoro(), chatterbox or FakeChatterbox()
    conversion = conversion or FakeConversion()
    library = VoiceLibrarySettings(root=tmp_path / "voices")
    settings = GatewaySettings(require_auth=False, **gateway)
    operations = Operations.from_handles(fake_handles(kokoro, chatterbox, conversion), library,
                                         settings.request_timeout_s)
    if keys is None:
        keys = BearerKeys.from_settings([], UNSET_KEYS_ENV)
    app = create_api(settings, operations, library, keys)  # jobs=None: no Redis in this tier
    client = TestClient(app, raise_server_exceptions=False)  # a bug shows as its 500, not as a traceback
    return Served(app, client, kokoro, chatterbox, conversion, library.root)


@pytest.fixture(autouse=True)
def _no_keys_in_the_environment(monkeypatch):
    monkeypatch.delenv(UNSET_KEYS_ENV, raising=False)


@pytest.fixture
def gw(tmp_path) -> Served:
    return serve_gateway(tmp_path)


@pytest.fixture
def client(gw) -> TestClient:
    return gw.client


def assert_error(response: httpx.Response, status: int, param: str | None = None, words: str = "",
                 code: str | None = None) -> dict:
    """An error in OpenAI's shape, with the type its status gets and (when given) the code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == ERROR_TYPES[status]
    assert error["param"] == param, error
    assert words.lower() in error["message"].lower(), error
    if code is not None:
        assert error["code"] == code, error
    return error


# -- audio helpers --------------------------------------------------------------------------------

def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    return soundfile.read(io.BytesIO(data), dtype="float32")


def spoken_samples(text: str, speed: float = 1.0) -> int:
    """How many samples the fake Kokoro speaks for `text` (one sine per sentence)."""
    return sum(max(int(len(s.split()) * SECONDS_PER_WORD / speed * SAMPLE_RATE), 1) for s in sentences(text))


def clone(client: TestClient, name: str, clip: bytes, filename: str = "clip.wav", **fields) -> httpx.Response:
    return client.post("/v1/voices", data={"name": name, **fields}, files={"file": (filename, clip)})


def cloned(client: TestClient, name: str, seconds: float = 6) -> dict:
    response = clone(client, name, wav_bytes(seconds))
    assert response.status_code == 201, response.text
    return response.json()["voice_info"]


# -- /v1/audio/speech: validation ----------------------------------------------------------------

BAD_SPEECH = [*BAD_SPEECH_REQUESTS,  # the real-Serve list, and more of Chorus's own fields
    ({"input": "hi", "voice": "jf_alpha(0)+jm_kumo"}, "voice", "positive"),
    ({"input": "hi", "voice": "jf_alpha+nobody"}, "voice", "not found"),
    ({"input": "hi", "sample_rate": 96000}, "sample_rate", "48000"),
    ({"input": "hi", "audio_normalization": "loud"}, "audio_normalization", "peak"),
    ({"input": "hi", "stream": "sometimes"}, "stream", "boolean"),
    ({"input": "hi", "model": "chatterbox", "cfg_weight": 1.5}, "cfg_weight", "1"),
    ({"input": "hi", "model": "chatterbox", "exaggeration": 3}, "exaggeration", "2"),
    ({"input": "hi", "model": "chatterbox", "seed": -1}, "seed", "0"),
    ({"input": "hi", "model": "chatterbox", "chunk_size": 0}, "chunk_size", "1"),
    ({"input": "hi", "model": "chatterbox", "min_p": 2}, "min_p", "1"),
    ({"input": "hi", "model": "chatterbox", "temperature": 0.01}, "temperature", "0.05"),  # ChatterboxParams' bound
    ({"input": "hi", "model": "chatterbox", "max_reference_duration_sec": 0}, "max_reference_duration_sec", "0"),
]


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("body, param, words", BAD_SPEECH)
def test_bad_speech_requests(gw, body, param, words, stream):
    assert_error(gw.client.post(SPEECH, json={"stream": stream, **body}), 400, param, words)
    synthesis = [m for m in gw.kokoro.methods() + gw.chatterbox.methods() if m in ("synthesize", "stream")]
    if param == "voice":  # Kokoro judges its voices: the request reached it, and no audio came back
        assert synthesis == ["stream" if stream else "synthesize"]
    else:  # refused by the gateway before any engine was asked to speak
        assert synthesis == []


def test_unknown_model_and_long_input_have_codes(client):
    assert_error(client.post(SPEECH, json={"input": "hi", "model": "tts-2"}), 400, "model", "tts-1",
                 code="model_not_found")
    assert_error(client.post(SPEECH, json={"input": "x" * 4097}), 400, "input", "4096",
                 code="string_above_max_length")
    assert client.post(SPEECH, json={"input": "x" * 4096, "response_format": "pcm"}).status_code == 200


def test_malformed_json(client):
    assert_error(client.post(SPEECH, content=b'{"input": "hi",', headers=JSON), 400, None, "json")


@pytest.mark.parametrize("headers, content", [
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"input=hi"),
    ({"Content-Type": "text/plain"}, b'{"input": "hi"}'),
    ({}, b'{"input": "hi"}'),
])
def test_speech_needs_a_json_content_type(gw, headers, content):
    assert_error(gw.client.post(SPEECH, content=content, headers=headers), 400, None, "content-type",
                 code="unsupported_content_type")
    assert gw.kokoro.calls == []


def test_json_content_type_with_a_charset_is_json(client):
    response = client.post(SPEECH, content=b'{"input": "Hi.", "response_format": "pcm"}',
                           headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert response.status_code == 200, response.text


def test_unknown_openai_field_is_accepted_and_logged_once(gw, caplog, monkeypatch):
    monkeypatch.setattr(speech_service, "_reported_unknown_fields", set())
    logger = logging.getLogger("ray.serve")  # Ray's logger does not propagate to the root, where caplog listens
    logger.addHandler(caplog.handler)
    try:
        for _ in range(3):
            response = gw.client.post(SPEECH, json={"input": "Hi.", "respone_format": "wav", "stream": False})
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "audio/mpeg"  # the misspelt field changed nothing
    finally:
        logger.removeHandler(caplog.handler)
    reports = [record for record in caplog.records if "respone_format" in record.getMessage()]
    assert len(reports) == 1 and reports[0].levelno == logging.WARNING
    # The Kokoro request carries no trace of it (KokoroRequest forbids unknown fields).
    assert all(isinstance(request, KokoroRequest) for request in gw.kokoro.requests("synthesize"))
    assert len(gw.kokoro.requests("synthesize")) == 3


# -- /v1/audio/speech: audio ---------------------------------------------------------------------

def test_non_streamed_wav_is_whole_with_an_exact_header(gw):
    text = "Good morning, everyone. Have a good day."
    response = gw.client.post(SPEECH, json={"input": text, "voice": "jm_kumo", "response_format": "wav",
                                            "stream": False})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["content-disposition"] == "attachment; filename=speech.wav"
    assert int.from_bytes(response.content[40:44], "little") == len(response.content) - 44
    samples, rate = read_wav(response.content)
    assert rate == SAMPLE_RATE and len(samples) == spoken_samples(text)
    assert gw.kokoro.methods() == ["synthesize"]  # stream=false: one call, no stream
    (request,) = gw.kokoro.requests("synthesize")
    assert request == KokoroRequest(text=text, voice="jm_kumo")


def test_streamed_pcm_bytes(gw):
    text = "One. Two words. And then three words."
    with gw.client.stream("POST", SPEECH, json={"input": text, "voice": "jf_alpha", "response_format": "pcm"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "audio/pcm"
        data = r.read()
    assert len(data) == 2 * spoken_samples(text)
    pcm = np.frombuffer(data, "<i2")
    assert np.abs(pcm).max() > 0.2 * 32767  # the fake's sine, not silence
    assert gw.kokoro.methods() == ["stream"]
    assert gw.kokoro.cancelled_streams == 1  # the engine's stream is let go when the response ends


def test_sse_stream_ends_with_speech_audio_done(gw):
    text = "First sentence here. Second sentence there. Third one at last."
    with gw.client.stream("POST", SPEECH, json={"input": text, "response_format": "pcm",
                                                "stream_format": "sse"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        events = [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line]
    deltas, done = events[:-1], events[-1]
    assert len(deltas) == 3 and {event["type"] for event in deltas} == {"speech.audio.delta"}
    assert done["type"] == "speech.audio.done"
    tokens = sum(len(sentence) for sentence in sentences(text))  # the fake reports a sentence's length as tokens
    assert done["usage"] == {"input_tokens": tokens, "output_tokens": 0, "total_tokens": tokens}
    audio = b"".join(base64.b64decode(event["audio"]) for event in deltas)
    assert len(audio) == 2 * spoken_samples(text)


def test_sse_error_after_the_first_chunk_is_an_error_event(tmp_path):
    class FailingKokoro(FakeKokoro):
        async def stream(self, request):
            async for chunk in super().stream(request):
                yield chunk
                raise RuntimeError("the replica died mid-stream")

    gw = serve_gateway(tmp_path, kokoro=FailingKokoro())
    response = gw.client.post(SPEECH, json={"input": "One. Two.", "response_format": "pcm", "stream_format": "sse"})
    assert response.status_code == 200  # the status was sent with the first chunk
    events = [json.loads(line.removeprefix("data: ")) for line in response.text.splitlines() if line]
    assert events[0]["type"] == "speech.audio.delta"
    assert events[-1]["type"] == "error"
    assert events[-1]["error"]["type"] == "server_error" and "mid-stream" in events[-1]["error"]["message"]
    assert "speech.audio.done" not in [event["type"] for event in events]


@pytest.mark.parametrize("audio_format, media_type", [("mp3", "audio/mpeg"), ("opus", "audio/ogg"),
                                                      ("aac", "audio/aac"), ("flac", "audio/flac"),
                                                      ("aiff", "audio/aiff")])
def test_every_format_has_its_media_type(client, audio_format, media_type):
    response = client.post(SPEECH, json={"input": "Hello there.", "response_format": audio_format, "stream": False})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type and len(response.content) > 100


def test_sample_rate_resamples(client):
    response = client.post(SPEECH, json={"input": "Hello there, friend.", "response_format": "wav", "stream": False,
                                         "sample_rate": 16000})
    samples, rate = read_wav(response.content)
    assert rate == 16000
    assert abs(len(samples) / rate - spoken_samples("Hello there, friend.") / SAMPLE_RATE) < 0.01


@pytest.mark.parametrize("model", ["kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"])
@pytest.mark.parametrize("fields, expected", [
    ({"voice": "alloy"}, {"voice": "alloy"}),  # OpenAI's aliases are Kokoro's to resolve
    ({"voice": "jf_alpha(2)+jm_kumo(1)"}, {"voice": "jf_alpha(2)+jm_kumo(1)"}),
    ({"voice": "jm_kumo", "speed": 1.5, "lang_code": "b"}, {"voice": "jm_kumo", "speed": 1.5, "lang_code": "b"}),
    ({}, {"voice": "jf_alpha"}),  # no voice: Kokoro's default
    # Chatterbox's fields are accepted with a Kokoro model and not passed on.
    ({"voice": "jm_kumo", "seed": 3, "cfg_weight": 0.2, "temperature": 0.7, "instructions": "calm"},
     {"voice": "jm_kumo"}),
])
def test_kokoro_models_send_the_fields_unchanged(gw, model, fields, expected):
    response = gw.client.post(SPEECH, json={"model": model, "input": "Hello there.", "response_format": "wav",
                                            "stream": False, **fields})
    assert response.status_code == 200, response.text
    (request,) = gw.kokoro.requests("synthesize")
    assert request == KokoroRequest(text="Hello there.", **expected)
    assert gw.chatterbox.calls == []


def test_model_chatterbox_sends_a_chatterbox_request_with_its_params(gw):
    params = {"seed": 7, "cfg_weight": 0.3, "exaggeration": 0.7, "temperature": 0.6, "repetition_penalty": 1.5,
              "min_p": 0.1, "top_p": 0.9, "chunk_size": 5, "no_watermark": True}
    response = gw.client.post(SPEECH, json={"model": "chatterbox", "input": "Hi there. Bye now.",
                                            "response_format": "pcm", **params, "speed": 2.0, "top_k": 40})
    assert response.status_code == 200, response.text
    assert len(response.content) == 2 * spoken_samples("Hi there. Bye now.")
    (request,) = gw.chatterbox.requests("stream")
    assert request == ChatterboxRequest("Hi there. Bye now.", None, ChatterboxParams(**params), None)
    assert gw.kokoro.requests() == []


def test_model_chatterbox_defaults_when_no_params_are_given(gw):
    response = gw.client.post(SPEECH, json={"model": "chatterbox", "input": "Hi.", "stream": False,
                                            "response_format": "wav"})
    assert response.status_code == 200, response.text
    (request,) = gw.chatterbox.requests("synthesize")
    assert request.params == ChatterboxParams() and request.voice is None


def test_chatterbox_speaks_library_voices_by_name_and_id(gw):
    info = cloned(gw.client, "Narrator")
    expected = LibraryVoice(info["voice_id"], datetime.fromisoformat(info["created_at"]).isoformat())
    for voice in ("narrator", "NARRATOR", info["voice_id"]):
        response = gw.client.post(SPEECH, json={"model": "chatterbox", "input": "Hi.", "voice": voice,
                                                "response_format": "pcm", "seed": 1})
        assert response.status_code == 200, response.text
        assert gw.chatterbox.requests("stream")[-1].voice == expected


def test_chatterbox_voice_errors(gw):
    cloned(gw.client, "Narrator")

    def speak(**fields):
        return gw.client.post(SPEECH, json={"model": "chatterbox", "input": "Hi.", **fields})

    assert_error(speak(voice="nobody"), 400, "voice", "not found in any library")
    assert_error(speak(voice="jm_kumo"), 400, "voice", "not found")  # a Kokoro pack is no Chatterbox voice
    assert_error(speak(voice="Narrator", reference_audio=b64(wav_bytes(2))), 400, "voice", "either")
    assert_error(speak(reference_audio="***"), 400, "reference_audio", "base64")
    assert_error(speak(reference_audio=b64(b"not audio" * 100)), 400, "reference_audio", "audio")
    assert_error(speak(reference_audio=b64(wav_bytes(61))), 400, "reference_audio", "long")
    assert gw.chatterbox.requests("stream") == []


def test_chatterbox_needs_a_voice_when_it_has_no_default(tmp_path):
    gw = serve_gateway(tmp_path, chatterbox=FakeChatterbox(has_default_voice=False))
    assert_error(gw.client.post(SPEECH, json={"model": "chatterbox", "input": "Hi."}), 400, "voice", "needs a voice")


def test_reference_audio_clones_for_one_request(gw):
    clip = wav_bytes(3, rate=16000)
    response = gw.client.post(SPEECH, json={"model": "chatterbox", "input": "Hi.", "response_format": "pcm",
                                            "reference_audio": b64(clip), "max_reference_duration_sec": 2.5})
    assert response.status_code == 200, response.text
    (request,) = gw.chatterbox.requests("stream")
    assert isinstance(request.voice, ReferenceAudio)
    assert request.voice.sample_rate == 16000 and len(request.voice.samples) == 3 * 16000
    assert request.max_reference_duration_sec == 2.5
    assert gw.stored() == []  # a one-off voice is not stored
    # With a Kokoro model a reference clip makes no sense; it reaches neither engine.
    response = gw.client.post(SPEECH, json={"input": "Hi.", "reference_audio": b64(clip)})
    assert_error(response, 400, "reference_audio", "kokoro")


def test_chatterbox_unavailable_is_503_with_its_reason(tmp_path):
    reason = "no Chatterbox checkpoint configured (set checkpoint_dir or hub_repo)"
    gw = serve_gateway(tmp_path, chatterbox=FakeChatterbox(unavailable=reason))
    for stream in (True, False):
        response = gw.client.post(SPEECH, json={"model": "chatterbox", "input": "Hi.", "stream": stream})
        error = assert_error(response, 503, None, "Chatterbox is unavailable", code="engine_unavailable")
        assert reason in error["message"]
    # Kokoro keeps serving.
    assert gw.client.post(SPEECH, json={"input": "Hi.", "response_format": "pcm"}).status_code == 200


def test_engine_errors_keep_their_status(tmp_path):
    gw = serve_gateway(tmp_path, kokoro=FakeKokoro(broken=ConnectionError("replica gone")))
    response = gw.client.post(SPEECH, json={"input": "Hi.", "voice": "jm_kumo"})
    assert_error(response, 503, None, "unreachable", code="engine_unreachable")
    assert response.headers["retry-after"] == "5"

    slow = serve_gateway(tmp_path, kokoro=FakeKokoro(delay_s=5), request_timeout_s=0.05)
    assert_error(slow.client.post(SPEECH, json={"input": "Hi.", "voice": "jm_kumo"}), 504, None, "0.05 s",
                 code="timeout")


# -- /dev/captioned_speech ----------------------------------------------------------------------

CAPTIONED = "/dev/captioned_speech"


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


# -- discovery: /v1/models, /v1/audio/voices, /voices ----------------------------------------------

def test_models(client):
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert {model["id"] for model in body["data"]} == {"kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "chatterbox"}
    assert {model["object"] for model in body["data"]} == {"model"}


def test_openai_voice_listing(client):
    body = client.get("/v1/audio/voices").json()
    assert body == {"voices": ["jf_alpha", "jm_kumo"], "aliases": {"alloy": "jf_alpha", "onyx": "jm_kumo"},
                    "default": "jf_alpha"}


def test_simple_voice_listing(client):
    assert client.get("/voices").json() == {"voices": ["jf_alpha", "jm_kumo"], "default": "jf_alpha"}


def test_voice_listings_when_kokoro_is_down(tmp_path):
    gw = serve_gateway(tmp_path, kokoro=FakeKokoro(unavailable="no model"))
    for path in ("/v1/audio/voices", "/voices"):
        assert_error(gw.client.get(path), 503, None, "Kokoro is unavailable: no model", code="engine_unavailable")
    listing = gw.client.get("/v1/voices")  # the library still lists, without Kokoro's packs
    assert listing.status_code == 200 and listing.json()["voices"] == []


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


# -- /v1/voices -----------------------------------------------------------------------------------

def test_listing_has_kokoro_packs_as_entries(client):
    body = client.get("/v1/voices").json()
    assert body["total_voices"] == 2 == body["stats"]["total_voices"]
    by_id = {voice["voice_id"]: voice for voice in body["voices"]}
    assert set(by_id) == KOKORO_PACKS
    for name, voice in by_id.items():
        assert voice["speaker_name"] == name and voice["type"] == "kokoro_pack" and voice["engine"] == "kokoro"
    assert by_id["jf_alpha"]["aliases"] == ["alloy"] and by_id["jf_alpha"]["gender"] == "female"
    assert by_id["jm_kumo"]["aliases"] == ["onyx"] and by_id["jm_kumo"]["gender"] == "male"
    assert body["stats"]["by_type"] == {"kokoro_pack": 2}
    assert body["stats"]["by_engine"] == {"kokoro": 2}


def test_clone_by_multipart_stores_the_voice_and_returns_a_sample(gw):
    clip = wav_bytes(6, rate=22050)
    response = clone(gw.client, "Kumo Clone", clip, "kumo.wav", gender="Male", description="cloned from kumo.wav")
    assert response.status_code == 201, response.text
    made = response.json()
    info = made["voice_info"]
    assert made["saved_to_library"] is True and "chatterbox" in made["usage_instructions"]
    assert info["voice_id"] in made["usage_instructions"]
    assert info["type"] == "user_cloned_voice" and info["engine"] == "chatterbox" and info["gender"] == "male"
    assert info["speaker_name"] == "Kumo Clone" and info["description"] == "cloned from kumo.wav"
    assert info["sample_rate"] == 22050 and info["duration"] == pytest.approx(6, abs=1e-3)
    sample, rate = read_wav(base64.b64decode(made["sample_audio"]))
    assert rate == made["sample_rate"] == SAMPLE_RATE and len(sample) > 0
    # What the engine got: the decoded clip to prepare, then the sample text in the prepared voice.
    (reference, limit) = gw.chatterbox.calls[0].args
    assert isinstance(reference, ReferenceAudio) and reference.sample_rate == 22050
    assert len(reference.samples) == 6 * 22050 and limit is None
    prepared = f"conditionals of {6 * 22050} samples at 22050 Hz".encode()
    (sample_request,) = gw.chatterbox.requests("synthesize")
    assert sample_request.voice == PreparedVoice(prepared)
    assert sample_request.text == VoiceLibrarySettings().sample_text
    # Stored: the clip as uploaded and the engine's artifact.
    assert gw.stored() == [info["voice_id"]]
    assert (gw.library / info["voice_id"] / "conditionals.pt").read_bytes() == prepared
    listing = gw.client.get("/v1/voices").json()
    assert listing["voices"][0] == info and listing["total_voices"] == 3
    assert listing["stats"]["by_type"] == {"user_cloned_voice": 1, "kokoro_pack": 2}
    for key in (info["voice_id"], "kumo clone", "KUMO CLONE"):
        assert gw.client.get(f"/v1/voices/{key}").json() == info
    download = gw.client.get(f"/v1/voices/{info['voice_id']}/audio")
    assert download.status_code == 200 and download.content == clip
    assert download.headers["content-type"].startswith("audio/")
    assert download.headers["content-disposition"].endswith("Kumo%20Clone.wav")  # RFC 5987: the name has a space


def test_clone_takes_the_file_as_audio_and_the_reference_cut(gw):
    response = gw.client.post("/v1/voices", data={"name": "Cut", "max_reference_duration_sec": "5"},
                              files={"audio": ("clip.wav", wav_bytes(6))})
    assert response.status_code == 201, response.text
    assert gw.chatterbox.calls[0].args[1] == 5


def test_clone_by_json_without_saving(gw):
    response = gw.client.post("/v1/voices", json={"name": "Not Kept", "reference_audio": b64(wav_bytes(6)),
                                                  "save_to_library": False})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["saved_to_library"] is False and body["voice_info"]["voice_id"].startswith("unsaved-")
    assert "Not saved" in body["usage_instructions"]
    assert gw.stored() == []
    assert_error(gw.client.get("/v1/voices/Not Kept"), 404, "voice_id", "not found")
    json_clone = gw.client.post("/v1/voices", json={"name": "Kept", "reference_audio": "data:audio/wav;base64,"
                                                    + b64(wav_bytes(6))})
    assert json_clone.status_code == 201, json_clone.text
    assert gw.client.get("/v1/voices/kept").json()["voice_id"] == json_clone.json()["voice_info"]["voice_id"]


def test_kokoro_names_are_refused_before_the_clip_is_decoded(gw):
    assert_error(clone(gw.client, "jm_kumo", b"not audio"), 400, "name", "kokoro")


@pytest.mark.parametrize("name, upload, status, param, words", [
    ("Bad 1", b"this is not audio at all" * 100, 400, "file", "audio"),
    ("Bad 2", b"", 400, "file", "empty"),
    ("Bad 3", wav_bytes(2), 400, "file", "at least"),
    ("Bad 4", wav_bytes(61), 400, "file", "long"),
    ("Bad 5", wav_bytes(8)[:30], 400, "file", ""),  # truncated inside its header
    ("Bad 6", wav_bytes(8, rate=4000), 400, "file", "sample rate"),
    ("Huge", b"\0" * (11 << 20), 413, "file", "limit"),
    ("../escape", wav_bytes(8), 400, "name", "/"),
    ("line\nbreak", wav_bytes(8), 400, "name", "control"),
    ("x" * 65, wav_bytes(8), 400, "name", "64"),
    ("   ", wav_bytes(8), 400, "name", ""),
    ("jm_kumo", wav_bytes(8), 400, "name", "kokoro"),
    ("ALLOY", wav_bytes(8), 400, "name", "kokoro"),  # OpenAI's aliases are Kokoro names too
])
def test_bad_uploads_are_clear_errors_and_store_nothing(gw, name, upload, status, param, words):
    assert_error(clone(gw.client, name, upload), status, param, words)
    assert gw.stored() == []
    assert "prepare_voice" not in gw.chatterbox.methods()


@pytest.mark.parametrize("fields, param, words", [
    ({"gender": "robot"}, "gender", "male"),
    ({"save_to_library": "maybe"}, "save_to_library", "boolean"),
    ({"max_reference_duration_sec": "0"}, "max_reference_duration_sec", "0"),
    ({"description": "d" * 501}, "description", "500"),
    ({"bogus": "1"}, "bogus", "unrecognized"),
])
def test_bad_multipart_clone_fields(gw, fields, param, words):
    assert_error(clone(gw.client, "Someone", wav_bytes(6), **fields), 400, param, words)
    assert gw.stored() == []


def test_multipart_clone_shape_errors(gw):
    assert_error(gw.client.post("/v1/voices", data={"name": "No File"}), 400, "file", "file")
    assert_error(gw.client.post("/v1/voices", files={"file": ("c.wav", wav_bytes(6))}), 400, "name", "missing")
    response = gw.client.post("/v1/voices", data={"name": "Twice", "reference_audio": b64(wav_bytes(6))},
                              files={"file": ("c.wav", wav_bytes(6))})
    assert_error(response, 400, "reference_audio", "once")
    two_files = gw.client.post("/v1/voices", data={"name": "Two"},
                               files=[("file", ("a.wav", wav_bytes(6))), ("audio", ("b.wav", wav_bytes(6)))])
    assert_error(two_files, 400, None, "files")
    assert gw.stored() == []


@pytest.mark.parametrize("body, param, words", [
    ({"name": "No Clip"}, "reference_audio", "reference_audio"),
    ({"name": "B64", "reference_audio": "***"}, "reference_audio", "base64"),
    ({"name": "Short", "reference_audio": b64(wav_bytes(2))}, "reference_audio", "at least"),
    ({"reference_audio": "AAAA"}, "name", "missing"),
    ({"name": "X", "reference_audio": "AAAA", "bogus": 1}, "bogus", "unrecognized"),
    ({"name": "X", "reference_audio": "AAAA", "gender": "robot"}, "gender", "male"),
    ({"name": "X", "reference_audio": 12}, "reference_audio", "string"),
    ({"name": "jf_alpha", "reference_audio": b64(wav_bytes(6))}, "name", "kokoro"),
])
def test_bad_json_clones(gw, body, param, words):
    assert_error(gw.client.post("/v1/voices", json=body), 400, param, words)
    assert gw.stored() == []


def test_json_clone_body_errors(client):
    assert_error(client.post("/v1/voices", content=b'{"name": ', headers=JSON), 400, None, "json")
    assert_error(client.post("/v1/voices", content=b"name=x", headers={"Content-Type": "text/plain"}), 400, None,
                 "content-type", code="unsupported_content_type")


def test_duplicate_names_are_refused(gw):
    cloned(gw.client, "Kumo Clone")
    before = gw.stored()
    assert_error(clone(gw.client, "kumo CLONE", wav_bytes(6)), 400, "name", "already exists")
    assert gw.stored() == before


def test_clone_while_chatterbox_is_down_is_503_and_stores_nothing(tmp_path):
    gw = serve_gateway(tmp_path, chatterbox=FakeChatterbox(unavailable="no checkpoint"))
    assert_error(clone(gw.client, "Someone", wav_bytes(6)), 503, None, "Chatterbox is unavailable: no checkpoint",
                 code="engine_unavailable")
    assert gw.stored() == []


def test_get_patch_delete(gw):
    info = cloned(gw.client, "Temporary")
    other = cloned(gw.client, "Other")
    voice_id = info["voice_id"]
    assert gw.client.get("/v1/voices/jm_kumo").json()["type"] == "kokoro_pack"

    renamed = gw.client.patch(f"/v1/voices/{voice_id}", json={"name": "Renamed", "description": "new words"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {**info, "speaker_name": "Renamed", "description": "new words"}
    assert_error(gw.client.get("/v1/voices/Temporary"), 404, "voice_id", "not found", code="voice_not_found")
    assert gw.client.get("/v1/voices/renamed").json()["voice_id"] == voice_id
    assert gw.client.patch("/v1/voices/renamed", json={}).json()["speaker_name"] == "Renamed"

    assert_error(gw.client.patch("/v1/voices/Renamed", json={"name": "other"}), 400, "name", "already exists")
    assert_error(gw.client.patch("/v1/voices/Renamed", json={"name": "JM_KUMO"}), 400, "name", "kokoro")
    assert_error(gw.client.patch("/v1/voices/Renamed", json={"name": ""}), 400, "name", "")
    assert_error(gw.client.patch("/v1/voices/Renamed", json={"bogus": 1}), 400, "bogus", "unrecognized")
    assert_error(gw.client.patch("/v1/voices/Renamed", json={"description": "d" * 501}), 400, "description", "500")
    assert_error(gw.client.patch("/v1/voices/Renamed", data={"name": "x"}), 400, None, "content-type")
    assert_error(gw.client.patch("/v1/voices/nobody", json={"name": "x"}), 404, "voice_id", "not found",
                 code="voice_not_found")
    assert_error(gw.client.patch("/v1/voices/jm_kumo", json={"description": "x"}), 404, "voice_id", "not found")

    deleted = gw.client.delete("/v1/voices/renamed")
    assert deleted.status_code == 200
    assert deleted.json()["deleted"] is True and deleted.json()["voice_info"]["voice_id"] == voice_id
    assert gw.stored() == [other["voice_id"]]
    assert_error(gw.client.get(f"/v1/voices/{voice_id}"), 404, "voice_id", "not found", code="voice_not_found")
    assert_error(gw.client.delete(f"/v1/voices/{voice_id}"), 404, "voice_id", "not found")
    assert_error(gw.client.delete("/v1/voices/jm_kumo"), 404, "voice_id", "not found")  # packs are read-only
    assert_error(gw.client.get(f"/v1/voices/{voice_id}/audio"), 404, "voice_id", "not found")
    assert_error(gw.client.get("/v1/voices/jm_kumo/audio"), 404, "voice_id", "not found")
    assert_error(gw.client.get("/v1/voices/nobody"), 404, "voice_id", "not found")


# -- /v1/audio/conversions ------------------------------------------------------------------------

TARGET = "Conversion Target"


@pytest.fixture
def target(gw) -> dict:
    return cloned(gw.client, TARGET)


def multipart(client, speech: bytes, target_clip: bytes | None = None, **fields):
    files = {"file": ("speech.wav", speech)}
    if target_clip is not None:
        files["target_speaker"] = ("target.wav", target_clip)
    return client.post(CONVERSIONS, data=fields, files=files)


def as_json(client, speech: bytes | None = None, **fields):
    if speech is not None:
        fields["audio"] = b64(speech)
    return client.post(CONVERSIONS, json=fields)


def test_conversion_into_a_library_voice(gw, target):
    response = multipart(gw.client, wav_bytes(1.0, rate=16000), voice_name=TARGET.upper())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["content-disposition"] == "attachment; filename=converted.wav"
    assert response.headers["x-transfer-mode"] == "embedding"
    assert response.headers["x-target"] == target["voice_id"]
    assert response.headers["x-pieces"] == "1"
    assert response.headers["x-input-duration"] == "1.000" and response.headers["x-output-duration"] == "1.000"
    samples, rate = read_wav(response.content)
    assert rate == SAMPLE_RATE and len(samples) == SAMPLE_RATE
    (request,) = gw.conversion.requests("convert_stream")
    assert isinstance(request, S3GenRequest)
    assert request.sample_rate == 16000 and len(request.samples) == 16000
    assert request.target == LibraryVoice(target["voice_id"], datetime.fromisoformat(target["created_at"]).isoformat())
    assert request.no_watermark is False and request.max_reference_duration_sec is None


def test_conversion_json_answer_by_voice_id(gw, target):
    response = gw.client.post(CONVERSIONS, json={"input_audio": b64(wav_bytes(1.0)), "transfer_mode": "embedding",
                                                 "voice_id": target["voice_id"], "return_json": True,
                                                 "sample_rate": 16000, "no_watermark": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["transfer_info"] == {"transfer_mode": "embedding", "target_voice": TARGET,
                                     "voice_id": target["voice_id"], "source": "voice_library"}
    assert body["format"] == "wav" and body["sample_rate"] == 16000 and body["model"] == "s3gen"
    assert body["input_duration"] == 1.0 and body["duration"] == pytest.approx(1.0, abs=0.01) and body["pieces"] == 1
    samples, rate = read_wav(base64.b64decode(body["audio"]))
    assert rate == 16000 and abs(len(samples) - 16000) <= 16
    assert gw.conversion.requests("convert_stream")[0].no_watermark is True


@pytest.mark.parametrize("field", ["voice_id", "voice_name"])
def test_a_conversion_target_given_as_an_object_names_the_same_voice(gw, target, field):
    key = target["voice_id"] if field == "voice_id" else TARGET
    response = gw.client.post(CONVERSIONS, json={"input_audio": b64(wav_bytes(1.0)), field: {"id": key},
                                                 "return_json": True})
    assert response.status_code == 200, response.text
    assert response.json()["transfer_info"]["voice_id"] == target["voice_id"]


def test_conversion_into_a_recording(gw):
    response = multipart(gw.client, wav_bytes(1.0), wav_bytes(3, rate=22050), transfer_mode="audio",
                         return_json="true", max_reference_duration_sec="2")
    assert response.status_code == 200, response.text
    assert response.json()["transfer_info"] == {"transfer_mode": "audio", "target_voice": "target_speaker",
                                                "voice_id": None, "source": "target_audio"}
    (request,) = gw.conversion.requests("convert_stream")
    assert isinstance(request.target, ReferenceAudio)
    assert request.target.sample_rate == 22050 and len(request.target.samples) == 3 * 22050
    assert request.max_reference_duration_sec == 2
    as_field = as_json(gw.client, wav_bytes(1.0), target_audio=b64(wav_bytes(3)))
    assert as_field.status_code == 200 and as_field.headers["x-target"] == "target_speaker"


@pytest.mark.parametrize("fields, status, param, words", [
    ({}, 400, "voice_name", "target"),
    ({"transfer_mode": "embedding"}, 400, "transfer_mode", "voice_name"),
    ({"transfer_mode": "audio"}, 400, "transfer_mode", "target_speaker"),
    ({"voice_name": "Nobody Here"}, 404, "voice_name", "not found"),
    ({"voice_name": "jm_kumo"}, 404, "voice_name", "not found"),  # Kokoro packs are not conversion targets
    ({"voice_id": "0123456789"}, 404, "voice_id", "not found"),
    ({"voice_id": TARGET}, 404, "voice_id", "id"),  # a name is not an id
    ({"voice_name": TARGET, "voice_id": "0123456789"}, 400, "voice_id", "exactly one"),
    ({"voice_name": TARGET, "target_audio": "AAAA"}, 400, "target_speaker", "exactly one"),
    ({"voice_name": TARGET, "transfer_mode": "audio"}, 400, "transfer_mode", "target_speaker"),
    ({"target_speaker": "AAAA", "transfer_mode": "embedding"}, 400, "transfer_mode", "voice_name"),
    ({"voice_name": TARGET, "transfer_mode": "copy"}, 400, "transfer_mode", "embedding"),
    ({"voice_name": TARGET, "response_format": "ogg"}, 400, "response_format", "mp3"),
    ({"voice_name": TARGET, "sample_rate": 4000}, 400, "sample_rate", "8000"),
    ({"voice_name": TARGET, "max_reference_duration_sec": 301}, 400, "max_reference_duration_sec", "300"),
    ({"voice_name": ""}, 400, "voice_name", "1 character"),
    ({"voice_name": TARGET, "bogus": 1}, 400, "bogus", "unrecognized"),
])
def test_bad_targets_and_fields(gw, target, fields, status, param, words):
    assert_error(as_json(gw.client, wav_bytes(1.0), **fields), status, param, words)
    assert gw.conversion.requests("convert_stream") == []


def test_bad_conversion_audio(gw, target):
    by_name = {"voice_name": TARGET}
    assert_error(multipart(gw.client, b"this is not audio at all" * 100, **by_name), 400, "file", "audio")
    assert_error(multipart(gw.client, b"", **by_name), 400, "file", "empty")
    assert_error(multipart(gw.client, wav_bytes(0.2), **by_name), 400, "file", "at least")
    assert_error(multipart(gw.client, b"\0" * (11 << 20), **by_name), 413, "file", "limit", code="request_too_large")
    assert_error(as_json(gw.client, **by_name), 400, "audio", "missing")
    assert_error(as_json(gw.client, audio="***", **by_name), 400, "audio", "base64")
    assert_error(gw.client.post(CONVERSIONS, data=by_name), 400, "file", "file")
    response = gw.client.post(CONVERSIONS, data={**by_name, "audio": b64(wav_bytes(1))},
                              files={"file": ("s.wav", wav_bytes(1))})
    assert_error(response, 400, "audio", "once")
    response = gw.client.post(CONVERSIONS, data={"target_audio": b64(wav_bytes(3))},
                              files={"file": ("s.wav", wav_bytes(1)), "target_speaker": ("t.wav", wav_bytes(3))})
    assert_error(response, 400, "target_speaker", "once")
    assert_error(multipart(gw.client, wav_bytes(1), b"", transfer_mode="audio"), 400, "target_speaker", "empty")
    assert_error(multipart(gw.client, wav_bytes(1), b"\1\2\3" * 500), 400, "target_speaker", "audio")
    assert_error(multipart(gw.client, wav_bytes(1), sample_rate="fast", **by_name), 400, "sample_rate", "integer")
    assert_error(gw.client.post(CONVERSIONS, content=b"audio", headers={"Content-Type": "audio/wav"}), 400, None,
                 "content-type", code="unsupported_content_type")
    assert_error(gw.client.post(CONVERSIONS, content=b'{"audio": ', headers=JSON), 400, None, "json")
    # The target is judged before the audio is decoded.
    assert_error(multipart(gw.client, b"not audio", voice_name="Nobody"), 404, "voice_name", "not found")
    assert gw.conversion.requests("convert_stream") == []


def test_conversion_input_limit(tmp_path):
    gw = serve_gateway(tmp_path, max_conversion_input_s=2)
    assert multipart(gw.client, wav_bytes(2), wav_bytes(3)).status_code == 200
    error = assert_error(multipart(gw.client, wav_bytes(3), wav_bytes(3)), 400, "file", "2 s limit",
                         code="audio_too_long")
    assert "POST /run" in error["message"] and "voice_conversion" in error["message"]  # where longer input goes


def test_conversion_unavailable_is_503(tmp_path):
    reason = "no S3Gen checkpoint configured (set checkpoint_dir or hub_repo)"
    gw = serve_gateway(tmp_path, conversion=FakeConversion(unavailable=reason))
    error = assert_error(multipart(gw.client, wav_bytes(1), wav_bytes(3)), 503, None, "conversion is unavailable",
                         code="engine_unavailable")
    assert reason in error["message"]


# -- /health --------------------------------------------------------------------------------------

def test_health_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["engines"]) == {"kokoro", "chatterbox", "conversion"}
    assert {engine["status"] for engine in body["engines"].values()} == {"ready"}
    assert body["engines"]["kokoro"]["engine"] == "kokoro" and body["engines"]["kokoro"]["reason"] is None
    assert body["auth_required"] is False


def test_health_says_when_the_api_needs_a_key(tmp_path):
    keyed = serve_gateway(tmp_path, keys=BearerKeys([key_digest("k")]))
    response = keyed.client.get("/health")  # open, as a probe needs it
    assert response.status_code == 200 and response.json()["auth_required"] is True


def test_health_degraded_when_chatterbox_is_unavailable(tmp_path):
    reason = "no Chatterbox checkpoint configured (set checkpoint_dir or hub_repo)"
    gw = serve_gateway(tmp_path, chatterbox=FakeChatterbox(unavailable=reason))
    response = gw.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["engines"]["chatterbox"]["status"] == "unavailable"
    assert body["engines"]["chatterbox"]["reason"] == reason
    assert body["engines"]["kokoro"]["status"] == "ready"


def test_health_503_when_every_engine_is_down(tmp_path, monkeypatch):
    monkeypatch.setattr(system_router, "HEALTH_TIMEOUT_S", 0.05)
    gw = serve_gateway(tmp_path, kokoro=FakeKokoro(unavailable="no model"),
                       chatterbox=FakeChatterbox(broken=ConnectionError("gone")),
                       conversion=FakeConversion(delay_s=5))
    response = gw.client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    engines = body["engines"]
    assert {engine["status"] for engine in engines.values()} == {"unavailable"}
    assert engines["kokoro"]["reason"] == "no model"
    assert engines["chatterbox"]["reason"] == "Engine unreachable: ConnectionError"
    assert engines["conversion"]["reason"] == "health check timed out"


# -- what every route shares: JSON bodies, unknown routes, methods, body limit, auth, admission -----

JSON_ROUTES = [("POST", SPEECH), ("POST", CAPTIONED), ("POST", "/synthesize"), ("POST", "/synthesize/stream"),
               ("POST", "/v1/voices"), ("PATCH", "/v1/voices/{voice_id}"), ("POST", CONVERSIONS)]


@pytest.fixture
def json_route(gw, request) -> tuple[str, str]:
    method, path = request.param
    if "{voice_id}" in path:
        path = path.format(voice_id=cloned(gw.client, "Someone")["voice_id"])
    return method, path


@pytest.mark.parametrize("body", [b"[1, 2]", b"null", b'"hi"'])
@pytest.mark.parametrize("json_route", JSON_ROUTES, indirect=True, ids=[" ".join(route) for route in JSON_ROUTES])
def test_json_bodies_that_are_not_objects_say_so(client, json_route, body):
    """One wording on every JSON route, as describe_validation_error words it for FastAPI's own parsing."""
    method, path = json_route
    assert_error(client.request(method, path, content=body, headers=JSON), 400, None, "JSON object")


@pytest.mark.parametrize("json_route", JSON_ROUTES, indirect=True, ids=[" ".join(route) for route in JSON_ROUTES])
def test_an_empty_json_body_is_named_as_such(client, json_route):
    method, path = json_route
    error = assert_error(client.request(method, path, content=b"", headers=JSON), 400, None, "body")
    assert "'None'" not in error["message"]


def test_unknown_route_and_wrong_method(client):
    assert_error(client.get("/v1/audio/nothing"), 404, None, "not found")
    response = client.get(SPEECH)
    assert_error(response, 405, None, "method")
    assert response.headers["allow"] == "POST"
    assert_error(client.put("/v1/voices"), 405, None, "method")
    assert_error(client.post("/health"), 405, None, "method")


@pytest.mark.parametrize("method, path", [("POST", "/run"), ("POST", "/runsync"), ("GET", "/status/abc"),
                                          ("POST", "/cancel/abc")])
def test_job_routes_are_absent_when_jobs_are_off(client, method, path):
    assert_error(client.request(method, path, json={"input": {}}), 404, None, "not found")


def test_openapi_lists_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {SPEECH, CAPTIONED, "/v1/models", "/v1/audio/voices", "/voices", "/synthesize", "/synthesize/stream",
            "/v1/voices", "/v1/voices/{voice}", "/v1/voices/{voice}/audio", CONVERSIONS, "/health"} <= set(paths)
    assert "/run" not in paths


def test_oversized_body_is_413(gw):
    """1 MB for text-only routes; routes that take audio allow a 10 MB clip as base64 (about 13.4 MB)."""
    response = gw.client.post("/synthesize", content=b'{"text": "' + b"a" * (2 << 20) + b'"}', headers=JSON)
    assert_error(response, 413, None, "limit", code="request_too_large")
    response = gw.client.post(SPEECH, content=b'{"input": "' + b"a" * (14 << 20) + b'"}', headers=JSON)
    assert_error(response, 413, None, "limit", code="request_too_large")
    # 2 MB passes the larger limit of an audio route; the input limit then refuses it.
    response = gw.client.post(SPEECH, content=b'{"input": "' + b"a" * (2 << 20) + b'"}', headers=JSON)
    assert_error(response, 400, "input", "limit")
    assert gw.kokoro.calls == []


def test_oversized_chunked_body_is_413(client):
    def chunks():
        yield b'{"text": "'
        for _ in range(3):
            yield b"a" * (512 << 10)
        yield b'"}'

    assert_error(client.post("/synthesize", content=chunks(), headers=JSON), 413, None, "limit")

    def small():
        yield b'{"text": "Hi.", '
        yield b'"voice": "jm_kumo"}'

    assert client.post("/synthesize", content=small(), headers=JSON).status_code == 200


def test_bearer_keys(tmp_path):
    gw = serve_gateway(tmp_path, keys=BearerKeys([key_digest("open sesame")]))
    response = gw.client.get("/v1/models")
    assert_error(response, 401, None, "api key", code="invalid_api_key")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_error(gw.client.get("/v1/models", headers={"Authorization": "Bearer wrong"}), 401, None, "api key")
    assert_error(gw.client.post(SPEECH, json={"input": "hi"}, headers={"Authorization": "Basic open sesame"}), 401)
    assert gw.kokoro.calls == []
    assert gw.client.get("/v1/models", headers={"Authorization": "Bearer open sesame"}).status_code == 200
    assert gw.client.get("/health").status_code == 200  # probes need no key


def test_no_keys_from_an_unset_environment_variable():
    assert not BearerKeys.from_settings([], UNSET_KEYS_ENV).enabled


def test_admission_limit_is_503_with_retry_after(tmp_path):
    gw = serve_gateway(tmp_path, kokoro=FakeKokoro(delay_s=0.3), max_concurrent_requests=1, retry_after_s=7)

    async def two_at_once():
        transport = httpx.ASGITransport(app=gw.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            body = {"text": "Hi.", "voice": "jm_kumo"}
            first = asyncio.create_task(http.post("/synthesize", json=body))
            await asyncio.sleep(0.1)
            second = await http.post("/synthesize", json=body)
            health = await http.get("/health")  # probes are not admitted against the limit
            return await first, second, health

    first, second, health = asyncio.run(two_at_once())
    assert first.status_code == 200
    assert_error(second, 503, None, "capacity", code="server_overloaded")
    assert second.headers["retry-after"] == "7"
    assert health.status_code == 200



# -- browsers and newer OpenAI clients ------------------------------------------------------------

def test_cors_preflight_and_headers_for_allowed_origins_only(tmp_path):
    served = serve_gateway(tmp_path, cors_allowed_origin_regex=r"^http://localhost(:[0-9]+)?$",
                           keys=BearerKeys([key_digest("k")]))
    preflight = served.client.options(SPEECH, headers={"Origin": "http://localhost:5173",
                                                       "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 200  # answered before authentication: a preflight carries no key
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    refused = served.client.options(SPEECH, headers={"Origin": "http://evil.example",
                                                     "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in refused.headers
    # An error a browser page gets back is readable by it: CORS headers on the 401 too.
    unauthorized = served.client.post(SPEECH, json={"input": "hi"}, headers={"Origin": "http://localhost:5173"})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["access-control-allow-origin"] == "http://localhost:5173"


def test_without_configured_origins_there_is_no_cors(client):
    preflight = client.options(SPEECH, headers={"Origin": "http://localhost:5173",
                                                "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 405 and "access-control-allow-origin" not in preflight.headers


def test_a_voice_given_as_an_object_names_the_same_voice(gw):
    for route, body in ((SPEECH, {"input": "Hello there.", "response_format": "wav", "stream": False}),
                        ("/synthesize", {"text": "Hello there."})):
        response = gw.client.post(route, json={**body, "voice": {"id": "jm_kumo"}})
        assert response.status_code == 200, response.text
    assert [request.voice for request in gw.kokoro.requests("synthesize")][-2:] == ["jm_kumo", "jm_kumo"]
    assert_error(gw.client.post(SPEECH, json={"input": "hi", "voice": {"name": "jm_kumo"}}), 400, "voice", "string")
