"""Every operation gives the same result over HTTP and as a job: one core under both front ends.

Same request, both dialects, on the real Serve graph: identical audio bytes for Kokoro, for seeded
Chatterbox and for voice conversion; the same voice ids and types in both listings; the same
cloned-voice facts; and the same error, word for word, for the same bad input.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import soundfile

from tests.helpers.audio import b64
from tests.helpers.jobs import run_sync, run_to_end
from tests.helpers.voices import clone, kokoro_clip

PARITY_VOICE = "Parity Voice"
TEXT = "Both doors open onto the same room."
JOB_FIELD_NAMES = {"audio": "input_audio"}  # where the job API names a field otherwise than HTTP does


def job_output(client, job_input: dict) -> dict:
    result = run_to_end(client, job_input)
    assert result["status"] == "COMPLETED", result
    return result["output"]


def job_error(client, job_input: dict) -> str:
    result = run_sync(client, job_input)
    assert result["status"] == "FAILED", result
    return result["error"]


def http_error(response) -> tuple[str, str | None]:
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    return error["message"], error["param"]


def http_wav(client, **fields) -> bytes:
    response = client.post("/v1/audio/speech", json={"input": TEXT, "response_format": "wav", "stream": False,
                                                     **fields})
    assert response.status_code == 200, response.text
    return response.content


@pytest.fixture(scope="module")
def reference(client) -> bytes:
    return kokoro_clip(client, "jm_kumo")


@pytest.fixture(scope="module")
def parity_voice(client, reference, chatterbox_checkpoint) -> dict:
    response = clone(client, PARITY_VOICE, reference, gender="male")
    assert response.status_code == 201, response.text
    return response.json()["voice_info"]


def test_kokoro_speech_is_the_same_bytes(client):
    http = http_wav(client, voice="jm_kumo")
    job = base64.b64decode(job_output(client, {"operation": "tts", "mode": "basic", "text": TEXT,
                                               "voice_name": "jm_kumo"})["audio"])
    assert http == job
    # A voice id from GET /v1/voices works in a job (a Kokoro pack's id is its name).
    by_id = base64.b64decode(job_output(client, {"operation": "tts", "mode": "basic", "text": TEXT,
                                                 "voice_id": "jm_kumo"})["audio"])
    assert by_id == http
    # Streamed (an alias this time): the job's WAV holds exactly the samples HTTP streams as PCM.
    streamed = base64.b64decode(job_output(client, {"operation": "tts", "mode": "streaming", "text": TEXT,
                                                    "voice_name": "alloy"})["audio"])
    pcm = client.post("/v1/audio/speech", json={"input": TEXT, "voice": "alloy", "response_format": "pcm"})
    assert pcm.status_code == 200, pcm.text
    job_samples, _ = soundfile.read(io.BytesIO(streamed), dtype="int16")
    assert np.array_equal(job_samples, np.frombuffer(pcm.content, dtype="<i2"))


def test_seeded_chatterbox_speech_is_the_same_bytes(client, parity_voice):
    http = http_wav(client, model="chatterbox", voice=PARITY_VOICE, seed=11)
    job = job_output(client, {"operation": "tts", "mode": "basic", "text": TEXT, "voice_id": parity_voice["voice_id"],
                              "seed": 11})
    assert job["model"] == "chatterbox"
    assert base64.b64decode(job["audio"]) == http
    assert http != http_wav(client, model="chatterbox", voice=PARITY_VOICE, seed=12)  # the seed is what matched


def test_both_listings_give_the_same_ids_and_types(client, parity_voice):
    http = {voice["speaker_name"]: (voice["voice_id"], voice["type"]) for voice in client.get("/v1/voices").json()["voices"]}
    job = {voice["speaker_name"]: (voice["voice_id"], voice["type"])
           for voice in job_output(client, {"operation": "list_local_voices"})["local_voices"]}
    assert http == job
    assert http["jm_kumo"] == ("jm_kumo", "kokoro_pack")
    assert http[PARITY_VOICE] == (parity_voice["voice_id"], "user_cloned_voice")


def test_conversion_is_the_same_bytes(client, parity_voice):
    speech = kokoro_clip(client, "jf_alpha", text="Convert me, please.")
    http = client.post("/v1/audio/conversions", json={"audio": b64(speech), "voice_name": PARITY_VOICE,
                                                      "no_watermark": True})
    assert http.status_code == 200, http.text
    job = job_output(client, {"operation": "voice_conversion", "input_audio": b64(speech),
                              "voice_id": parity_voice["voice_id"], "no_watermark": True})
    assert base64.b64decode(job["audio"]) == http.content
    assert job["transfer_info"]["voice_id"] == http.headers["x-target"] == parity_voice["voice_id"]


@pytest.mark.usefixtures("chatterbox_checkpoint")  # Chatterbox prepares the voice
def test_an_unsaved_clone_is_described_the_same(client, reference):
    http = client.post("/v1/voices", json={"name": "Not Stored", "reference_audio": b64(reference),
                                           "gender": "female", "save_to_library": False})
    assert http.status_code == 201, http.text
    job = job_output(client, {"operation": "voice_cloning", "voice_name": "Not Stored", "gender": "female",
                              "reference_audio": b64(reference), "save_to_library": False})
    http_info, job_info = http.json()["voice_info"], job["voice_info"]
    for field in ("gender", "duration", "sample_rate", "description"):
        assert http_info[field] == job_info[field], field
    assert http_info["speaker_name"] == job_info["voice_name"] == "Not Stored"
    assert job["saved_to_library"] is http.json()["saved_to_library"] is False


@pytest.mark.parametrize("http_request, job_input", [
    # An unknown voice, for each engine's routing.
    (("/v1/audio/speech", {"input": TEXT, "voice": "nobody"}),
     {"operation": "tts", "mode": "basic", "text": TEXT, "voice_name": "nobody"}),
    (("/v1/audio/speech", {"model": "chatterbox", "input": TEXT, "voice": "nobody"}),
     {"operation": "tts", "mode": "streaming_voice_cloning", "text": TEXT, "voice_name": "nobody"}),
    # Conversion targets: unknown, a Kokoro pack, two at once, and a transfer_mode that contradicts the target.
    (("/v1/audio/conversions", {"audio": "SPEECH", "voice_name": "nobody"}),
     {"operation": "voice_conversion", "input_audio": "SPEECH", "voice_name": "nobody"}),
    (("/v1/audio/conversions", {"audio": "SPEECH", "voice_id": "jm_kumo"}),
     {"operation": "voice_conversion", "input_audio": "SPEECH", "voice_id": "jm_kumo"}),
    (("/v1/audio/conversions", {"audio": "SPEECH", "voice_name": PARITY_VOICE, "transfer_mode": "audio"}),
     {"operation": "voice_transfer", "input_audio": "SPEECH", "voice_name": PARITY_VOICE, "transfer_mode": "audio"}),
    (("/v1/audio/conversions", {"audio": "not base64!", "voice_name": PARITY_VOICE}),  # each names its own field
     {"operation": "voice_conversion", "input_audio": "not base64!", "voice_name": PARITY_VOICE}),
    # Cloning: a Kokoro name, a clip that is too short.
    (("/v1/voices", {"name": "jm_kumo", "reference_audio": "SPEECH"}),
     {"operation": "voice_cloning", "voice_name": "jm_kumo", "reference_audio": "SPEECH"}),
    (("/v1/voices", {"name": "Too Short", "reference_audio": "SPEECH"}),
     {"operation": "voice_cloning", "voice_name": "Too Short", "reference_audio": "SPEECH"}),
])
def test_the_same_bad_input_fails_the_same_way(client, parity_voice, http_request, job_input):
    speech = b64(kokoro_clip(client, "jf_alpha", text="Short."))
    path, body = http_request
    body = {key: speech if value == "SPEECH" else value for key, value in body.items()}
    job_input = {key: speech if value == "SPEECH" else value for key, value in job_input.items()}
    message, param = http_error(client.post(path, json=body))
    if param in JOB_FIELD_NAMES:  # the same words, naming the field as the job API calls it
        message = message.replace(param, JOB_FIELD_NAMES[param], 1)
    assert job_error(client, job_input) == message
