"""What the library knows about one voice, and the statistics over a listing."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints


def _safe_name(name: str) -> str:
    # Names are never used as paths (voices are stored under their ids); refusing separators,
    # '..' and invisible characters keeps them safe in logs, headers and any file name built from them.
    name = unicodedata.normalize("NFC", name)
    if "/" in name or "\\" in name or ".." in name:
        raise ValueError("must not contain '/', '\\' or '..'")
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise ValueError("must not contain control or invisible characters")
    return name


# What a JSON Schema pattern can say of _safe_name (and of the text after stripping): some non-space
# character, no separators, no '..', no C0/C1 control characters. Other invisible characters (format,
# private use, unassigned) are refused too, which no pattern here can list.
_NAME_PATTERN = r"^(?!.*\.\.)(?=.*\S)[^/\\\x00-\x1f\x7f-\x9f]*$"
VoiceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                      AfterValidator(_safe_name), Field(json_schema_extra={"pattern": _NAME_PATTERN})]
Gender = Annotated[Literal["male", "female", "neutral", "unknown"],
                   BeforeValidator(lambda value: value.strip().lower() if isinstance(value, str) else value)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
VoiceType = Literal["kokoro_pack", "user_cloned_voice"]
Engine = Literal["kokoro", "chatterbox"]


def name_key(name: str) -> str:
    """The form two names are compared in: names are unique regardless of case."""
    return unicodedata.normalize("NFC", name.strip()).casefold()


class VoiceEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    voice_id: str = Field(min_length=1, description="Short stable id; a Kokoro pack's id is its pack name")
    speaker_name: VoiceName = Field(description="Unique name (case-insensitive) that requests can use as `voice`")
    gender: Gender = Field("unknown", description="male, female, neutral or unknown")
    description: Description = Field("", description="Free text about the voice")
    duration: float | None = Field(None, ge=0, description="Length of the reference clip in seconds")
    original_file: str | None = Field(None, description="File name of the stored reference clip")
    sample_rate: int | None = Field(None, gt=0, description="Sample rate of the reference clip in Hz")
    type: VoiceType = Field(description="kokoro_pack or user_cloned_voice")
    engine: Engine = Field(description="The engine that speaks with this voice")
    created_at: AwareDatetime | None = Field(None, description="When the voice was created (UTC)")
    aliases: list[str] = Field([], description="Other names that select this voice (OpenAI's, for Kokoro packs)")


class VoiceStats(BaseModel):
    total_voices: int = Field(description="Number of voices listed")
    by_engine: dict[str, int] = Field(description="Voices per engine")
    by_type: dict[str, int] = Field(description="Voices per type")
    gender_distribution: dict[str, int] = Field(description="Voices per gender")


def voice_stats(entries: Iterable[VoiceEntry]) -> VoiceStats:
    entries = list(entries)
    return VoiceStats(
        total_voices=len(entries),
        by_engine=Counter(entry.engine for entry in entries),
        by_type=Counter(entry.type for entry in entries),
        gender_distribution=Counter(entry.gender for entry in entries),
    )
