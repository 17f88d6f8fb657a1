"""/v1/audio/conversions in-process: library and recording targets, bad targets and audio, limits.

In-process over fake engines (tests/helpers/gateway.py); the served tier keeps the end-to-end paths.
"""

from __future__ import annotations

import base64
from datetime import datetime

import pytest

from deployments.conversion.protocol import S3GenRequest
from deployments.s3gen.protocol import LibraryVoice, ReferenceAudio
from tests.helpers.audio import b64, wav_bytes
from tests.helpers.errors import JSON, assert_error
from tests.helpers.fake_engines import (
    SAMPLE_RATE,
    FakeConversion,
)
from tests.helpers.gateway import (
    CONVERSIONS,
    cloned,
    read_wav,
    serve_gateway,
)
from tests.helpers.voices import convert_json, convert_multipart

# -- /v1/audio/conversions ------------------------------------------------------------------------

TARGET = "Conversion Target"


@pytest.fixture
def target(gw) -> dict:
    return cloned(gw.client, TARGET)


def test_conversion_into_a_library_voice(gw, target):
    response = convert_multipart(gw.client, wav_bytes(1.0, rate=16000), voice_name=TARGET.upper())
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
    response = convert_multipart(gw.client, wav_bytes(1.0), wav_bytes(3, rate=22050), transfer_mode="audio",
                         return_json="true", max_reference_duration_sec="2")
    assert response.status_code == 200, response.text
    assert response.json()["transfer_info"] == {"transfer_mode": "audio", "target_voice": "target_speaker",
                                                "voice_id": None, "source": "target_audio"}
    (request,) = gw.conversion.requests("convert_stream")
    assert isinstance(request.target, ReferenceAudio)
    assert request.target.sample_rate == 22050 and len(request.target.samples) == 3 * 22050
    assert request.max_reference_duration_sec == 2
    as_field = convert_json(gw.client, wav_bytes(1.0), target_audio=b64(wav_bytes(3)))
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
    assert_error(convert_json(gw.client, wav_bytes(1.0), **fields), status, param, words)
    assert gw.conversion.requests("convert_stream") == []


def test_bad_conversion_audio(gw, target):
    by_name = {"voice_name": TARGET}
    assert_error(convert_multipart(gw.client, b"this is not audio at all" * 100, **by_name), 400, "file", "audio")
    assert_error(convert_multipart(gw.client, b"", **by_name), 400, "file", "empty")
    assert_error(convert_multipart(gw.client, wav_bytes(0.2), **by_name), 400, "file", "at least")
    assert_error(convert_multipart(gw.client, b"\0" * (11 << 20), **by_name), 413, "file", "limit", code="request_too_large")
    assert_error(convert_json(gw.client, **by_name), 400, "audio", "missing")
    assert_error(convert_json(gw.client, audio="***", **by_name), 400, "audio", "base64")
    assert_error(gw.client.post(CONVERSIONS, data=by_name), 400, "file", "file")
    response = gw.client.post(CONVERSIONS, data={**by_name, "audio": b64(wav_bytes(1))},
                              files={"file": ("s.wav", wav_bytes(1))})
    assert_error(response, 400, "audio", "once")
    response = gw.client.post(CONVERSIONS, data={"target_audio": b64(wav_bytes(3))},
                              files={"file": ("s.wav", wav_bytes(1)), "target_speaker": ("t.wav", wav_bytes(3))})
    assert_error(response, 400, "target_speaker", "once")
    assert_error(convert_multipart(gw.client, wav_bytes(1), b"", transfer_mode="audio"), 400, "target_speaker", "empty")
    assert_error(convert_multipart(gw.client, wav_bytes(1), b"\1\2\3" * 500), 400, "target_speaker", "audio")
    assert_error(convert_multipart(gw.client, wav_bytes(1), sample_rate="fast", **by_name), 400, "sample_rate", "integer")
    assert_error(gw.client.post(CONVERSIONS, content=b"audio", headers={"Content-Type": "audio/wav"}), 400, None,
                 "content-type", code="unsupported_content_type")
    assert_error(gw.client.post(CONVERSIONS, content=b'{"audio": ', headers=JSON), 400, None, "json")
    # The target is judged before the audio is decoded.
    assert_error(convert_multipart(gw.client, b"not audio", voice_name="Nobody"), 404, "voice_name", "not found")
    assert gw.conversion.requests("convert_stream") == []


def test_conversion_input_limit(tmp_path):
    gw = serve_gateway(tmp_path, max_conversion_input_s=2)
    assert convert_multipart(gw.client, wav_bytes(2), wav_bytes(3)).status_code == 200
    error = assert_error(convert_multipart(gw.client, wav_bytes(3), wav_bytes(3)), 400, "file", "2 s limit",
                         code="audio_too_long")
    assert "POST /run" in error["message"] and "voice_conversion" in error["message"]  # where longer input goes


def test_conversion_unavailable_is_503(tmp_path):
    reason = "no S3Gen checkpoint configured (set checkpoint_dir or hub_repo)"
    gw = serve_gateway(tmp_path, conversion=FakeConversion(unavailable=reason))
    error = assert_error(convert_multipart(gw.client, wav_bytes(1), wav_bytes(3)), 503, None, "conversion is unavailable",
                         code="engine_unavailable")
    assert reason in error["message"]
