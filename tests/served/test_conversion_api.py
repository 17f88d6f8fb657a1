"""Voice conversion over HTTP and by handle, on the random-weight checkpoint (tests/helpers/chatterbox_checkpoint.py).

Inputs and reference clips come from the project's own Kokoro engine. Random weights make noise,
not speech: these tests check the plumbing (targets, durations, pieces, formats, errors).
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import pytest
import ray
import soundfile
from ray import serve

from deployments.conversion.pieces import joined
from deployments.conversion.protocol import S3GenRequest
from deployments.s3gen.protocol import LibraryVoice, ReferenceAudio
from ground.replies import SynthesisResult
from tests.helpers.audio import wav_bytes
from tests.helpers.chatterbox_checkpoint import harmonic_clip
from tests.helpers.errors import assert_error
from tests.helpers.settings import APP_NAME, CONVERSION_PIECE_SEC
from tests.helpers.voices import clone, convert_json, convert_multipart, kokoro_clip

# Every test here speaks to the session app's Chatterbox or Conversion: the random checkpoint is deployed.
pytestmark = pytest.mark.usefixtures("chatterbox_checkpoint")

ROUTE = "/v1/audio/conversions"
TARGET_NAME = "Conversion Target"


def duration(data: bytes) -> tuple[np.ndarray, int, float]:
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return samples, rate, len(samples) / rate


def assert_same_length(output: bytes, input_s: float) -> np.ndarray:
    samples, _, output_s = duration(output)
    assert abs(output_s - input_s) <= 0.03 * input_s, (output_s, input_s)
    return samples


@pytest.fixture(scope="module")
def speech(client) -> bytes:
    return kokoro_clip(client, "jf_alpha", text="Please convert these few words.")


@pytest.fixture(scope="module")
def speech_s(speech) -> float:
    return duration(speech)[2]


@pytest.fixture(scope="module")
def long_speech(client) -> bytes:
    """Longer than a conversion piece (5 s in the test app), and long enough to clone from."""
    return kokoro_clip(client, "jm_kumo")


@pytest.fixture(scope="module")
def target_voice(client, long_speech) -> dict:
    response = clone(client, TARGET_NAME, long_speech)
    assert response.status_code == 201, response.text
    return response.json()["voice_info"]


@pytest.fixture(scope="module")
def by_name(client, speech, speech_s, target_voice) -> np.ndarray:
    response = convert_multipart(client, speech, voice_name=TARGET_NAME.upper())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["x-transfer-mode"] == "embedding"
    assert response.headers["x-target"] == target_voice["voice_id"]
    assert response.headers["x-pieces"] == "1"
    assert float(response.headers["x-input-duration"]) == pytest.approx(speech_s, abs=1e-3)
    assert float(response.headers["x-output-duration"]) == pytest.approx(speech_s, rel=0.03)
    return assert_same_length(response.content, speech_s)


def test_conversion_is_served_and_documented(client):
    assert client.get("/health").json()["engines"]["conversion"]["status"] == "ready"
    operation = client.get("/openapi.json").json()["paths"][ROUTE]["post"]
    assert {"multipart/form-data", "application/json"} <= set(operation["requestBody"]["content"])
    answer = operation["responses"]["200"]
    assert {"audio/wav", "audio/mpeg", "application/json"} <= set(answer["content"])
    assert {"X-Input-Duration", "X-Output-Duration", "X-Target"} <= set(answer["headers"])


def test_library_voice_by_name_and_by_id_give_the_same_audio(client, speech, speech_s, target_voice, by_name):
    # The hosted API's voice transfer, `embedding` mode, with its field names; JSON answer.
    response = client.post(ROUTE, json={"input_audio": base64.b64encode(speech).decode(), "transfer_mode": "embedding",
                                        "voice_id": target_voice["voice_id"], "return_json": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["transfer_info"] == {"transfer_mode": "embedding", "target_voice": TARGET_NAME,
                                     "voice_id": target_voice["voice_id"], "source": "voice_library"}
    assert body["format"] == "wav" and body["sample_rate"] == 24_000 and body["model"] == "s3gen"
    assert body["input_duration"] == pytest.approx(speech_s, abs=1e-3) and body["pieces"] == 1
    by_id = assert_same_length(base64.b64decode(body["audio"]), speech_s)
    np.testing.assert_array_equal(by_id, by_name)


def test_a_target_recording_gives_another_voice(client, speech, speech_s, long_speech, by_name):
    target = kokoro_clip(client, "jf_alpha", "mp3")
    response = convert_multipart(client, speech, target, "target.mp3", transfer_mode="audio", return_json="true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["transfer_info"] == {"transfer_mode": "audio", "target_voice": "target_speaker", "voice_id": None,
                                     "source": "target_audio"}
    by_recording = assert_same_length(base64.b64decode(body["audio"]), speech_s)
    assert not np.array_equal(by_recording, by_name)


def test_long_input_is_converted_in_pieces(client, long_speech, target_voice):
    input_s = duration(long_speech)[2]
    assert input_s > CONVERSION_PIECE_SEC
    response = convert_multipart(client, long_speech, voice_id=target_voice["voice_id"], response_format="flac",
                         sample_rate="16000", no_watermark="true")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/flac"
    assert response.headers["x-pieces"] == str(math.ceil(input_s / CONVERSION_PIECE_SEC))
    samples = assert_same_length(response.content, input_s)
    assert duration(response.content)[1] == 16_000 and np.isfinite(samples).all()


@pytest.mark.parametrize("fields, status, param, words", [
    ({"voice_name": "Nobody Here"}, 404, "voice_name", "not found"),
    ({"voice_name": "jm_kumo"}, 404, "voice_name", "not found"),  # Kokoro packs are not conversion targets
    ({"voice_id": "0123456789"}, 404, "voice_id", "not found"),
    ({"voice_id": TARGET_NAME}, 404, "voice_id", "id"),  # a name is not an id
    ({}, 400, "voice_name", "target"),
    ({"voice_name": TARGET_NAME, "voice_id": "0123456789"}, 400, "voice_id", "exactly one"),
    ({"voice_name": TARGET_NAME, "target_audio": "AAAA"}, 400, "target_speaker", "exactly one"),
    ({"voice_name": TARGET_NAME, "transfer_mode": "audio"}, 400, "transfer_mode", "target_speaker"),
    ({"voice_name": TARGET_NAME, "response_format": "ogg"}, 400, "response_format", ""),
    ({"voice_name": TARGET_NAME, "bogus": 1}, 400, "bogus", "unrecognized"),
])
def test_bad_targets_and_fields(client, speech, target_voice, fields, status, param, words):
    assert_error(convert_json(client, speech, **fields), status, param, words)


def test_bad_audio_is_a_clear_error(client, speech, target_voice):
    target = {"voice_name": TARGET_NAME}
    assert_error(convert_multipart(client, b"this is not audio at all" * 100, **target), 400, "file", "audio")
    assert_error(convert_multipart(client, b"", **target), 400, "file", "empty")
    assert_error(convert_multipart(client, wav_bytes(0.2), **target), 400, "file", "at least")
    assert_error(convert_multipart(client, b"\0" * (11 << 20), **target), 413, "file", "limit")
    assert_error(convert_json(client, **target), 400, "audio", "missing")
    assert_error(convert_json(client, audio="***", **target), 400, "audio", "base64")
    assert_error(client.post(ROUTE, data=target), 400, "file", "file")
    assert_error(convert_multipart(client, speech, b"", transfer_mode="audio"), 400, "target_speaker", "empty")
    assert_error(convert_multipart(client, speech, b"\1\2\3" * 500), 400, "target_speaker", "audio")
    assert_error(client.post(ROUTE, content=b"audio", headers={"Content-Type": "audio/wav"}), 400, None,
                 "content-type")


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
class Dubber:
    """Another application's deployment that converts through the Conversion deployment's handle."""

    def __init__(self):
        self.conversion = serve.get_deployment_handle("Conversion", app_name=APP_NAME)

    async def __call__(self, request: S3GenRequest) -> SynthesisResult:
        return await self.conversion.convert.remote(request)


def test_second_application_converts_by_handle(base_url, target_voice):
    handle = serve.run(Dubber.bind(), name="dubber", route_prefix=None)
    samples = harmonic_clip(1.0, 16_000, f0=200)
    library = LibraryVoice(target_voice["voice_id"], target_voice["created_at"])
    result = handle.remote(S3GenRequest(samples, 16_000, library)).result(timeout_s=120)
    assert result.sample_rate == 24_000 and result.audio.dtype == np.float32 and result.pieces == 1
    assert len(result.audio) == 24_000
    reference = ReferenceAudio(harmonic_clip(3.0, 22_050, f0=120), 22_050)
    with pytest.raises(ray.exceptions.RayTaskError, match="mono"):
        handle.remote(S3GenRequest(np.zeros((2, 16_000), np.float32), 16_000, reference)).result(timeout_s=120)
    serve.delete("dubber")


def test_a_long_conversion_streams_its_pieces_by_handle(target_voice):
    """`convert_stream` yields the pieces in order, each placed in the output; joined, they are what
    `convert` answers for the same input."""
    conversion = serve.get_deployment_handle("Conversion", app_name=APP_NAME)
    request = S3GenRequest(harmonic_clip(1.4 * CONVERSION_PIECE_SEC, 16_000, f0=170),
                           16_000, LibraryVoice(target_voice["voice_id"], target_voice["created_at"]), no_watermark=True)
    pieces = list(conversion.options(stream=True).convert_stream.remote(request))
    assert [(piece.index, piece.count) for piece in pieces] == [(0, 2), (1, 2)]
    assert pieces[0].start == 0 < pieces[1].start
    assert all(piece.length == round(1.4 * CONVERSION_PIECE_SEC * 24_000) for piece in pieces)
    whole = conversion.convert.remote(request).result(timeout_s=300)
    assert whole.pieces == 2
    np.testing.assert_allclose(joined(pieces), whole.audio, atol=1e-4)
