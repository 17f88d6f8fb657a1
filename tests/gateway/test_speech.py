"""/v1/audio/speech in-process: validation, audio, Chatterbox parameters and voices, engine errors.

In-process over fake engines (tests/helpers/gateway.py); the served tier keeps the end-to-end paths.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime

import numpy as np
import pytest

from deployments.chatterbox.protocol import ChatterboxParams, ChatterboxRequest
from deployments.kokoro.protocol import KokoroRequest
from deployments.s3gen.protocol import LibraryVoice, ReferenceAudio
from ingress.speech import service as speech_service
from tests.helpers.audio import b64, wav_bytes
from tests.helpers.errors import BAD_SPEECH_REQUESTS, JSON, assert_error
from tests.helpers.fake_engines import (
    SAMPLE_RATE,
    FakeChatterbox,
    FakeKokoro,
    MidStreamFailingKokoro,
    sentences,
)
from tests.helpers.gateway import (
    SPEECH,
    cloned,
    read_wav,
    serve_gateway,
    spoken_samples,
)

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
    assert gw.kokoro.cancelled_streams == 0  # the stream ran to its end: nothing was cut short


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
    gw = serve_gateway(tmp_path, kokoro=MidStreamFailingKokoro())
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
    # Every field it set, top_k included (only Turbo samples with it), over the model's defaults.
    assert request == ChatterboxRequest("Hi there. Bye now.", None, ChatterboxParams(**params, top_k=40), None)
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


def test_a_voice_given_as_an_object_names_the_same_voice(gw):
    for route, body in ((SPEECH, {"input": "Hello there.", "response_format": "wav", "stream": False}),
                        ("/synthesize", {"text": "Hello there."})):
        response = gw.client.post(route, json={**body, "voice": {"id": "jm_kumo"}})
        assert response.status_code == 200, response.text
    assert [request.voice for request in gw.kokoro.requests("synthesize")][-2:] == ["jm_kumo", "jm_kumo"]
    assert_error(gw.client.post(SPEECH, json={"input": "hi", "voice": {"name": "jm_kumo"}}), 400, "voice", "string")


def test_a_stream_dropped_before_it_is_read_stops_its_engine_work(gw):
    import asyncio
    import gc

    from deployments.kokoro.protocol import KokoroRequest as Request

    async def start_and_drop() -> None:
        started = await gw.app.state.speech.operations.speech.kokoro.stream(Request(text="Hi. There.", voice="jm_kumo"))
        assert started.sample_rate > 0  # its first chunk arrived; nobody reads the rest

    asyncio.run(start_and_drop())
    gc.collect()
    assert gw.kokoro.cancelled_streams == 1
