"""A replica's prepared voices, least recently used dropped first once they exceed a byte budget."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from cachetools import LRUCache

V = TypeVar("V")


class VoiceCache(Generic[V]):
    """Maps a caller's key (a voice id and version, say) to a loaded voice.

    Keys must change when a voice changes: an entry is never checked against its source again.
    """

    def __init__(self, max_bytes: int, size_of: Callable[[V], int]):
        self._entries: LRUCache[str, V] = LRUCache(maxsize=max_bytes, getsizeof=size_of)
        # cachetools caches are not thread-safe, and even a lookup reorders the LRU list.
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, value: V) -> None:
        with self._lock:
            try:
                self._entries[key] = value
            except ValueError:  # larger than the whole budget: not kept, nor an older value under its key
                self._entries.pop(key, None)

    def get_or_load(self, key: str, load: Callable[[], V]) -> V:
        # Loading happens outside the lock: two callers may both load a missing voice, and
        # neither waits on the other's load.
        value = self.get(key)
        if value is None:
            value = load()
            self.put(key, value)
        return value

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
