"""Kokoro voice packs as library entries, so one listing covers every engine's voices."""

from __future__ import annotations

import re
from collections.abc import Iterable

from deployments.kokoro.protocol import VoiceInfo
from deployments.voice_library.entry import VoiceEntry, name_key

# Kokoro names packs `<language><gender>_<name>`, for example `jf_alpha`: Japanese, female.
_PACK_NAME = re.compile(r"([a-z])([fm])_")
_LANGUAGES = {"a": "American English", "b": "British English", "e": "Spanish", "f": "French", "h": "Hindi",
              "i": "Italian", "j": "Japanese", "p": "Brazilian Portuguese", "z": "Mandarin Chinese"}
_GENDERS = {"f": "female", "m": "male"}


def kokoro_pack_entries(names: list[str]) -> list[VoiceEntry]:
    return [_pack_entry(name) for name in names]


def _pack_entry(name: str) -> VoiceEntry:
    match = _PACK_NAME.match(name)
    gender = _GENDERS[match.group(2)] if match else "unknown"
    language = _LANGUAGES.get(match.group(1)) if match else None
    description = f"Kokoro voice pack, {language} {gender}" if language else "Kokoro voice pack"
    return VoiceEntry(voice_id=name, speaker_name=name, gender=gender, description=description,
                      type="kokoro_pack", engine="kokoro")


def is_kokoro_name(name: str, packs: Iterable[VoiceInfo]) -> bool:
    """Whether `name` is a Kokoro pack or alias, compared as library names are: a clone may not shadow one."""
    return name_key(name) in {name_key(alias) for voice in packs for alias in (voice.name, *voice.aliases)}
