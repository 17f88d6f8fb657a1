"""One voice library for every engine: stored (cloned) voices on disk, plus Kokoro's packs."""

from stores.voice_library.entry import (
    Description,
    Gender,
    VoiceEntry,
    VoiceName,
    VoiceStats,
    name_key,
    voice_stats,
)
from stores.voice_library.packs import kokoro_pack_entries
from stores.voice_library.store import VoiceLibrary

__all__ = ["Description", "Gender", "VoiceEntry", "VoiceLibrary", "VoiceName", "VoiceStats",
           "kokoro_pack_entries", "name_key", "voice_stats"]
