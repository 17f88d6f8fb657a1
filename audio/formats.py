"""Response formats the gateway can produce and their media types."""

from __future__ import annotations

from typing import Literal

AudioFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm", "aiff"]

MEDIA_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "aiff": "audio/aiff",
}
