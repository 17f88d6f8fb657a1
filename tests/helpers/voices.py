"""Voices over HTTP: Kokoro speech to clone from, and cloning into the library (any client: the served app's
httpx client or an in-process TestClient)."""

from __future__ import annotations

import httpx

CLIP_TEXT = ("My voice is the one you will hear from now on. I speak slowly and clearly, "
             "so that every word can be copied.")


def kokoro_clip(client, voice: str, audio_format: str = "wav", text: str = CLIP_TEXT) -> bytes:
    response = client.post("/v1/audio/speech", json={"input": text, "voice": voice, "response_format": audio_format,
                                                      "stream": False})
    assert response.status_code == 200
    return response.content


def clone(client, name: str, clip: bytes, filename: str = "clip.wav", **fields) -> httpx.Response:
    return client.post("/v1/voices", data={"name": name, **fields}, files={"file": (filename, clip)})
