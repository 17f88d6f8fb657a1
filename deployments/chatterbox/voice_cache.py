"""A replica's prepared voices, least recently used dropped first once they exceed a byte budget."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class VoiceCache(Generic[V]):
    """Maps a caller's key (a voice id and version, say) to a loaded voice.

    Keys must change when a voice changes: an entry is never checked against its source again.
    """

    def __init__(self, max_bytes: int, size_of: Callable[[V], int]):
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._entries: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: str, value: V) -> None:
        size = self._size_of(value)
        with self._lock:
            if key in self._entries:
                self._bytes -= self._entries.pop(key)[1]
            if size > self.max_bytes:
                return
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def get_or_load(self, key: str, load: Callable[[], V]) -> V:
        # Loading happens outside the lock: two callers may both load a missing voice, and
        # neither waits on the other's load.
        value = self.get(key)
        if value is None:
            value = load()
            self.put(key, value)
        return value

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)
