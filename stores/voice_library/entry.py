"""What the library knows about one voice, and the statistics over a listing."""

from __future__ import annotations

import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import cache
from itertools import groupby
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

_SEPARATORS = "/\\"


def _invisible(char: str) -> bool:
    """Control, format, surrogate, private-use or unassigned: Unicode's "Other" categories (C*)."""
    return unicodedata.category(char).startswith("C")


def _safe_name(name: str) -> str:
    # Names are never used as paths (voices are stored under their ids); refusing separators,
    # '..' and invisible characters keeps them safe in logs, headers and any file name built from them.
    name = unicodedata.normalize("NFC", name)
    if any(separator in name for separator in _SEPARATORS) or ".." in name:
        raise ValueError("must not contain '/', '\\' or '..'")
    if any(map(_invisible, name)):
        raise ValueError("must not contain control or invisible characters")
    return name


def _escaped(point: int) -> str:
    # \uXXXX reads the same in Python's and ECMA-262's regular expressions; above U+FFFF they share
    # no escape, so those characters stand as themselves.
    return f"\\u{point:04x}" if point <= 0xFFFF else chr(point)


@cache
def _name_characters() -> str:
    """The characters _safe_name lets a name hold, as the inside of a regex character class, from the
    same tests (on first use: every code point is looked at). The allowed characters rather than the
    refused: a fuzzer builds the smaller set many times faster."""
    allowed = [char not in _SEPARATORS and not _invisible(char) for char in map(chr, range(sys.maxunicode + 1))]
    ranges, first = [], 0
    for shown, run in groupby(allowed):
        last = first + len(list(run)) - 1
        if shown:
            ranges.append(_escaped(first) if first == last else f"{_escaped(first)}-{_escaped(last)}")
        first = last + 1
    return "".join(ranges)


def _name_pattern(schema: dict) -> None:
    # _safe_name as a pattern, of the text after stripping: some non-space character, no '..' and
    # only allowed characters. The document is stricter only about padding, which is stripped: a tab
    # or line break around a name, or spaces beyond maxLength.
    schema["pattern"] = rf"^(?!.*\.\.)(?=.*\S)[{_name_characters()}]*$"


VoiceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                      AfterValidator(_safe_name), Field(json_schema_extra=_name_pattern)]
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
