"""The voice library and Chatterbox over HTTP, on the random-weight checkpoint (tests/helpers/chatterbox_checkpoint.py).

Reference clips come from the project's own Kokoro engine. Random weights make noise, not
speech: these tests check the plumbing (cloning, storage, lookup, isolation, errors).
"""

from __future__ import annotations

import base64
import io
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import ray
import soundfile

from tests.helpers.audio import decode
from tests.helpers.errors import assert_error
from tests.helpers.settings import APP_NAME
from tests.helpers.voices import BAD_UPLOADS, clone, kokoro_clip

# Every test here speaks to the session app's Chatterbox or Conversion: the random checkpoint is deployed.
pytestmark = pytest.mark.usefixtures("chatterbox_checkpoint")


def chatterbox_wav(client, **fields) -> np.ndarray:
    response = client.post("/v1/audio/speech", json={"model": "chatterbox", "input": "Hello there.",
                                                      "response_format": "wav", "stream": False, **fields})
    assert response.status_code == 200, response.text
    samples, rate = soundfile.read(io.BytesIO(response.content), dtype="float32")
    assert rate == 24_000 and len(samples) > 0
    return samples


@pytest.fixture(scope="module")
def clips(client) -> dict[str, bytes]:
    return {"kumo": kokoro_clip(client, "jm_kumo"), "alpha": kokoro_clip(client, "jf_alpha", "mp3")}


@pytest.fixture(scope="module")
def voices(client, clips) -> dict[str, dict]:
    made = {}
    for name, clip, filename in (("Kumo Clone", clips["kumo"], "kumo.wav"), ("Alpha Clone", clips["alpha"], "a.mp3")):
        response = clone(client, name, clip, filename, gender="male" if "Kumo" in name else "female",
                         description=f"cloned from {filename}")
        assert response.status_code == 201, response.text
        made[name] = response.json()
    return made


def test_cloning_stores_the_voice_and_returns_a_sample(client, voices, clips):
    made = voices["Kumo Clone"]
    info = made["voice_info"]
    assert made["saved_to_library"] is True and "chatterbox" in made["usage_instructions"]
    assert info["type"] == "user_cloned_voice" and info["engine"] == "chatterbox" and info["gender"] == "male"
    reference, rate = soundfile.read(io.BytesIO(clips["kumo"]))
    assert info["sample_rate"] == rate and abs(info["duration"] - len(reference) / rate) < 0.01
    sample, sample_rate = soundfile.read(io.BytesIO(base64.b64decode(made["sample_audio"])))
    assert sample_rate == made["sample_rate"] == 24_000 and len(sample) > 0
    listing = client.get("/v1/voices").json()
    names = [voice["speaker_name"] for voice in listing["voices"]]
    assert {"Kumo Clone", "Alpha Clone", "jm_kumo"} <= set(names)
    assert listing["total_voices"] == len(names) == listing["stats"]["total_voices"]
    assert listing["stats"]["by_type"]["user_cloned_voice"] >= 2
    assert listing["stats"]["gender_distribution"]["female"] >= 1
    for key in (info["voice_id"], "kumo clone", "KUMO CLONE"):
        assert client.get(f"/v1/voices/{key}").json() == info
    assert client.get("/v1/voices/jm_kumo").json()["type"] == "kokoro_pack"
    download = client.get(f"/v1/voices/{info['voice_id']}/audio")
    assert download.status_code == 200 and download.content == clips["kumo"]
    assert download.headers["content-type"].startswith("audio/")


def test_speech_by_name_and_by_id_uses_the_stored_voice(client, voices):
    info = voices["Alpha Clone"]["voice_info"]
    by_name = chatterbox_wav(client, voice="alpha clone", seed=7)
    by_id = chatterbox_wav(client, voice=info["voice_id"], seed=7)
    np.testing.assert_array_equal(by_name, by_id)
    other = chatterbox_wav(client, voice="Kumo Clone", seed=7)
    assert not np.array_equal(by_name, other)


def test_concurrent_requests_keep_their_own_voices(client, voices):
    alone = {name: chatterbox_wav(client, voice=name, seed=3) for name in voices}
    with ThreadPoolExecutor(2) as pool:
        names = [*voices]
        together = list(pool.map(lambda name: chatterbox_wav(client, voice=name, seed=3), names))
    for name, audio in zip(names, together, strict=True):
        np.testing.assert_array_equal(audio, alone[name])


def healthy(client) -> bool:
    try:
        response = client.get("/health")
    except httpx.HTTPError:  # the gateway is coming back
        return False
    return response.status_code == 200 and response.json()["engines"]["chatterbox"]["status"] == "ready"


def test_voices_survive_a_restart_of_every_replica(client, voices):
    before = chatterbox_wav(client, voice="Kumo Clone", seed=5)
    for deployment in ("Chatterbox", "Gateway"):
        (replica,) = [actor for actor in ray.util.list_named_actors(all_namespaces=True)
                      if actor["name"].startswith(f"SERVE_REPLICA::{APP_NAME}#{deployment}#")]
        ray.kill(ray.get_actor(replica["name"], namespace=replica["namespace"]), no_restart=True)
    deadline = time.monotonic() + 120
    while not healthy(client):
        assert time.monotonic() < deadline, "Chorus did not come back"
        time.sleep(0.5)
    assert client.get("/v1/voices/kumo clone").status_code == 200
    np.testing.assert_array_equal(chatterbox_wav(client, voice="Kumo Clone", seed=5), before)


def test_one_off_reference_audio_and_json_cloning_without_saving(client, clips):
    reference = base64.b64encode(clips["kumo"]).decode()
    assert len(chatterbox_wav(client, reference_audio=reference, max_reference_duration_sec=5)) > 0
    response = client.post("/v1/voices", json={"name": "Not Kept", "reference_audio": reference,
                                                "save_to_library": False})
    assert response.status_code == 201, response.text
    assert response.json()["saved_to_library"] is False
    assert client.get("/v1/voices/Not Kept").status_code == 404


def test_rename_describe_and_delete(client, clips):
    info = clone(client, "Temporary", clips["kumo"]).json()["voice_info"]
    renamed = client.patch(f"/v1/voices/{info['voice_id']}", json={"name": "Renamed", "description": "new words"})
    assert renamed.status_code == 200 and renamed.json()["speaker_name"] == "Renamed"
    assert renamed.json()["description"] == "new words"
    assert client.get("/v1/voices/Temporary").status_code == 404
    assert_error(client.patch("/v1/voices/Renamed", json={"name": "kumo clone"}), 400, "name", "")
    assert client.delete("/v1/voices/renamed").json()["voice_info"]["voice_id"] == info["voice_id"]
    assert_error(client.get(f"/v1/voices/{info['voice_id']}"), 404, "voice_id", "not found")
    assert_error(client.delete("/v1/voices/jm_kumo"), 404, "voice_id", "not found")  # packs are read-only


@pytest.mark.parametrize("name, upload, status, param, words", BAD_UPLOADS)
def test_bad_uploads_are_clear_errors_and_store_nothing(client, voice_library, voices, name, upload, status, param,
                                                        words):
    before = sorted(path.name for path in voice_library.iterdir())
    assert_error(clone(client, name, upload), status, param, words)
    assert sorted(path.name for path in voice_library.iterdir()) == before


def test_duplicate_names_oversize_uploads_and_missing_fields(client, voices, clips):
    assert_error(clone(client, "kumo CLONE", clips["kumo"]), 400, "name", "")
    assert_error(clone(client, "Huge", b"\0" * (11 << 20)), 413, "file", "")
    assert_error(client.post("/v1/voices", data={"name": "No File"}), 400, "file", "file")
    assert_error(client.post("/v1/voices", json={"name": "No Clip"}), 400, "reference_audio", "reference_audio")
    assert_error(client.post("/v1/voices", json={"name": "B64", "reference_audio": "***"}), 400, "reference_audio",
                 "base64")
    assert_error(chatterbox_request(client, voice="nobody"), 400, "voice", "not found in any library")
    assert_error(chatterbox_request(client, voice="Kumo Clone", reference_audio="AAAA"), 400, "voice", "either")
    assert_error(chatterbox_request(client, voice="Kumo Clone", cfg_weight=1.5), 400, "cfg_weight", "")
    assert_error(chatterbox_request(client, voice="jm_kumo"), 400, "voice", "not found")


def chatterbox_request(client, **fields):
    return client.post("/v1/audio/speech", json={"model": "chatterbox", "input": "Hi.", **fields})


def test_chatterbox_streams_chunk_by_chunk(client, voices):
    text = "First sentence here. Second sentence there. Third one at last."
    with client.stream("POST", "/v1/audio/speech", json={
            "model": "chatterbox", "input": text, "voice": "Kumo Clone", "chunk_size": 3, "response_format": "pcm",
            "seed": 2}) as response:
        assert response.status_code == 200
        parts = [part for part in response.iter_bytes() if part]
    assert len(parts) >= 3  # one chunk of three words per sentence, each sent when it is done
    whole = chatterbox_wav(client, input=text, voice="Kumo Clone", chunk_size=3, seed=2)
    assert len(b"".join(parts)) // 2 == len(whole)


def test_watermark_is_on_unless_no_watermark(client, voices):
    marked = chatterbox_wav(client, voice="Kumo Clone", seed=9)
    plain = chatterbox_wav(client, voice="Kumo Clone", seed=9, no_watermark=True)
    assert len(marked) == len(plain) and not np.array_equal(marked, plain)


def test_mp3_reference_clips_decode(clips):
    samples, rate = decode(clips["alpha"])
    assert rate == 24_000 and len(samples) / rate > 5
