"""ElevenLabs' stream-input WebSocket from a client: its path and the PCM its messages carry."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

PATH = "/v1/text-to-speech/{voice}/stream-input"
RATE = 24_000
LONG_TEXT = " ".join(f"Sentence number {n} of a story that is long enough to keep the engine busy for a while."
                     for n in range(1, 16))


def pcm(messages: list[dict]) -> np.ndarray:
    """The 16-bit PCM of every audio message, joined."""
    data = b"".join(base64.b64decode(m["audio"]) for m in messages if m.get("audio"))
    assert len(data) % 2 == 0
    return np.frombuffer(data, "<i2")


def until_final(ws) -> list[dict]:
    """An in-process socket's messages up to its final one."""
    messages = []
    while not messages or not messages[-1].get("isFinal"):
        messages.append(json.loads(ws.receive_text()))
    return messages


def closed_with(ws) -> tuple[dict, int]:
    """An in-process socket's error message and the close code after it."""
    from starlette.websockets import WebSocketDisconnect

    error = json.loads(ws.receive_text())
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    return error, closed.value.code
