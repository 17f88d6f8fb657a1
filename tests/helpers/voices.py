"""Voices over HTTP: Kokoro speech to clone from, and cloning into the library (any client: the served app's
httpx client or an in-process TestClient)."""

from __future__ import annotations

import base64

import httpx

from tests.helpers.audio import wav_bytes

CLIP_TEXT = ("My voice is the one you will hear from now on. I speak slowly and clearly, "
             "so that every word can be copied.")


def kokoro_clip(client, voice: str, audio_format: str = "wav", text: str = CLIP_TEXT) -> bytes:
    response = client.post("/v1/audio/speech", json={"input": text, "voice": voice, "response_format": audio_format,
                                                      "stream": False})
    assert response.status_code == 200
    return response.content


def clone(client, name: str, clip: bytes, filename: str = "clip.wav", **fields) -> httpx.Response:
    return client.post("/v1/voices", data={"name": name, **fields}, files={"file": (filename, clip)})


# Clone uploads that must fail, each with its status, the field named and a word of the message; none may
# store anything (the in-process and the served tier both walk them).
BAD_UPLOADS = [
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
]

CONVERSIONS = "/v1/audio/conversions"


def convert_multipart(client, speech: bytes, target: bytes | None = None, target_filename: str = "target.wav",
                      **fields) -> httpx.Response:
    """A voice conversion as a multipart form: the speech as `file`, a target recording (if any) as
    `target_speaker`, the other fields as form fields."""
    files = {"file": ("speech.wav", speech)}
    if target is not None:
        files["target_speaker"] = (target_filename, target)
    return client.post(CONVERSIONS, data=fields, files=files)


def convert_json(client, speech: bytes | None = None, **fields) -> httpx.Response:
    """A voice conversion as JSON: the speech (if any) as base64 `audio`, the other fields as they are."""
    if speech is not None:
        fields["audio"] = base64.b64encode(speech).decode()
    return client.post(CONVERSIONS, json=fields)
