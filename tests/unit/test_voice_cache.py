"""The per-replica voice cache: least recently used out first, a byte budget, safe from many threads."""

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ground.voice_cache import VoiceCache


def test_the_least_recently_used_goes_first():
    cache = VoiceCache(max_bytes=12, size_of=len)
    for key in "abc":
        cache.put(key, b"xxxx")
    assert cache.get("a") == b"xxxx"  # a used again: b is now the oldest
    cache.put("d", b"xxxx")
    assert "b" not in cache and all(key in cache for key in "acd")
    cache.get_or_load("c", lambda: b"unused")  # a hit counts as a use as well
    cache.put("e", b"xxxx")
    assert "a" not in cache and all(key in cache for key in "cde")


def test_the_byte_budget_holds():
    cache = VoiceCache(max_bytes=10, size_of=len)
    cache.put("a", b"xxxx")
    cache.put("b", b"xxxx")
    assert "a" in cache and "b" in cache and len(cache) == 2
    cache.put("c", b"xxxxxx")  # 14 bytes: a goes
    assert "a" not in cache and "b" in cache and "c" in cache and len(cache) == 2
    cache.put("b", b"x")  # a new value under a key frees the old one's bytes
    assert cache.get("b") == b"x"
    cache.put("d", b"xxx")  # fits beside b and c (10 bytes) only if b's old 4 bytes were freed
    assert all(key in cache for key in "bcd") and len(cache) == 3


def test_a_value_larger_than_the_budget_is_not_cached():
    cache = VoiceCache(max_bytes=10, size_of=len)
    cache.put("a", b"xxxx")
    cache.put("big", b"x" * 11)
    assert "big" not in cache and cache.get("big") is None
    assert "a" in cache and len(cache) == 1
    cache.put("b", b"x" * 6)  # fits beside a (10 bytes) only if the refused value took no room
    assert "a" in cache and "b" in cache
    loads = []
    assert cache.get_or_load("big", lambda: loads.append(1) or b"x" * 11) == b"x" * 11
    assert cache.get_or_load("big", lambda: loads.append(1) or b"x" * 11) == b"x" * 11
    assert len(loads) == 2  # returned each time, kept never


def test_an_oversized_value_drops_the_older_value_under_its_key():
    cache = VoiceCache(max_bytes=10, size_of=len)
    cache.put("a", b"xxxx")
    cache.put("a", b"x" * 11)
    assert "a" not in cache and len(cache) == 0
    cache.put("b", b"x" * 10)  # the whole budget is free again
    assert "b" in cache


def test_a_zero_budget_caches_nothing():
    cache = VoiceCache(max_bytes=0, size_of=len)
    assert cache.get_or_load("a", lambda: b"x") == b"x"
    assert len(cache) == 0


def test_concurrent_get_or_load_from_threads():
    cache = VoiceCache(max_bytes=40, size_of=len)
    loads = []
    lock = threading.Lock()

    def load(key):
        def _load():
            with lock:
                loads.append(key)
            time.sleep(0.001)
            return key.encode() * 4
        return _load

    keys = [f"{n:02d}" for n in random.Random(0).choices(range(10), k=2000)]  # 10 voices of 8 bytes, 5 fit
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda key: cache.get_or_load(key, load(key)), keys))
    assert results == [key.encode() * 4 for key in keys]  # every caller gets its own key's voice
    assert len(cache) <= 5  # 40 bytes hold five 8-byte voices
    # The byte count survived the threads: five fresh voices fit, no more, no fewer.
    fresh = [f"fresh{n}" for n in range(5)]
    for key in fresh:
        cache.put(key, b"x" * 8)
    assert all(key in cache for key in fresh) and len(cache) == 5
    assert len(loads) < len(keys)  # hits happened


def test_a_slow_load_does_not_hold_up_other_voices():
    """Loading happens outside the lock: a slow load does not hold up other keys."""
    cache = VoiceCache(max_bytes=100, size_of=len)
    slow_started, release = threading.Event(), threading.Event()

    def slow():
        slow_started.set()
        release.wait(5)
        return b"slow"

    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = pool.submit(cache.get_or_load, "slow", slow)
        assert slow_started.wait(5)
        assert cache.get_or_load("fast", lambda: b"fast") == b"fast"  # not blocked by the slow load
        release.set()
        assert pending.result(5) == b"slow"
    assert "slow" in cache and "fast" in cache
