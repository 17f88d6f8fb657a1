"""ElevenLabs' stream-input WebSocket from a client: its path and the PCM its messages carry."""

from __future__ import annotations

import base64

import numpy as np

PATH = "/v1/text-to-speech/{voice}/stream-input"
RATE = 24_000
LONG_TEXT = " ".join(f"Sentence number {n} of a story that is long enough to keep the engine busy for a while."
                     for n in range(1, 16))


def pcm(messages: list[dict]) -> np.ndarray:
    """The 16-bit PCM of every audio message, joined."""
    data = b"".join(base64.b64decode(m["audio"]) for m in messages if m.get("audio"))
    assert len(data) % 2 == 0
    return np.frombuffer(data, "<i2")
