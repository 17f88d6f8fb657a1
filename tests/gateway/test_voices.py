"""/v1/voices in-process: listing, cloning by multipart and JSON, bad uploads, get, patch, delete.

In-process over fake engines (tests/helpers/gateway.py); the served tier keeps the end-to-end paths.
"""

from __future__ import annotations

import base64

import pytest

from deployments.chatterbox.protocol import PreparedVoice
from deployments.s3gen.protocol import ReferenceAudio
from stores.voice_library.settings import VoiceLibrarySettings
from tests.helpers.audio import b64, wav_bytes
from tests.helpers.errors import JSON, assert_error
from tests.helpers.fake_engines import (
    SAMPLE_RATE,
    FakeChatterbox,
)
from tests.helpers.gateway import (
    KOKORO_PACKS,
    cloned,
    read_wav,
    serve_gateway,
)
from tests.helpers.voices import BAD_UPLOADS, clone

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


@pytest.mark.parametrize("name, upload, status, param, words", BAD_UPLOADS)
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
