"""Kokoro voice packs as library entries, so one listing covers every engine's voices."""

from __future__ import annotations

import re

from stores.voice_library.entry import VoiceEntry

# Kokoro names packs `<language><gender>_<name>`, for example `jf_alpha`: Japanese, female.
_PACK_NAME = re.compile(r"([a-z])([fm])_")
_LANGUAGES = {"a": "American English", "b": "British English", "e": "Spanish", "f": "French", "h": "Hindi",
              "i": "Italian", "j": "Japanese", "p": "Brazilian Portuguese", "z": "Mandarin Chinese"}
_GENDERS = {"f": "female", "m": "male"}


def kokoro_pack_entries(names: list[str], aliases: dict[str, list[str]] | None = None) -> list[VoiceEntry]:
    """Entries for Kokoro's packs; `aliases` maps a pack to the other names (OpenAI's) that select it."""
    return [_pack_entry(name, (aliases or {}).get(name, [])) for name in names]


def _pack_entry(name: str, aliases: list[str]) -> VoiceEntry:
    match = _PACK_NAME.match(name)
    gender = _GENDERS[match.group(2)] if match else "unknown"
    language = _LANGUAGES.get(match.group(1)) if match else None
    description = f"Kokoro voice pack, {language} {gender}" if language else "Kokoro voice pack"
    return VoiceEntry(voice_id=name, speaker_name=name, gender=gender, description=description,
                      type="kokoro_pack", engine="kokoro", aliases=aliases)

