"""Library voices for Chatterbox, shared by the gateway (HTTP) and the job worker (queued jobs).

Nothing here calls an engine: it names the stored artifact, stores a cloned voice, and turns a
library entry into the voice a Chatterbox or conversion request carries.
"""

from __future__ import annotations

from typing import Protocol

from deployments.chatterbox.protocol import LibraryVoice
from deployments.errors import InvalidRequest
from deployments.voice_library import VoiceEntry, VoiceLibrary

CONDITIONALS = "conditionals.pt"  # the prepared voice, as stored in the library


class Clip(Protocol):
    """A decoded reference clip (audio.uploads.DecodedAudio)."""

    data: bytes
    format: str
    sample_rate: int

    @property
    def duration_s(self) -> float: ...


def clip_fields(clip: Clip, gender: str, description: str) -> dict:
    """What a cloned voice's entry says about its reference clip."""
    return {"gender": gender, "description": description, "duration": round(clip.duration_s, 3),
            "sample_rate": clip.sample_rate}


def store_clone(library: VoiceLibrary, name: str, clip: Clip, conditionals: bytes, *, gender: str,
                description: str) -> VoiceEntry:
    """Store a voice `prepare_voice` made: the clip as uploaded, and its conditionals for the engines."""
    return library.create(name, engine="chatterbox", clip_bytes=clip.data, clip_ext=clip.format,
                          artifacts={CONDITIONALS: conditionals}, **clip_fields(clip, gender, description))


def library_voice(entry: VoiceEntry, requested: str, param: str, use: str) -> LibraryVoice:
    """The voice for a Chatterbox or conversion request; InvalidRequest for a voice another engine speaks."""
    if entry.engine != "chatterbox":
        raise InvalidRequest(f"Voice '{requested}' is a {entry.engine} voice; {use} library voices cloned for "
                             "Chatterbox", param)
    return LibraryVoice(entry.voice_id, entry.created_at.isoformat())
