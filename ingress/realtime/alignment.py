"""ElevenLabs' character alignment from the word timings an engine reports (ground.replies.WordTiming).

Only what the engine measured is used: a word's span is shared evenly by its characters, and the spaces and
punctuation between two words share the gap between them (before the first word: from the chunk's start;
after the last: to its end). Without word timings there is no alignment (None), never an estimate.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ground.replies import WordTiming
from ingress.realtime.protocol import CharacterAlignment


def character_alignment(text: str, words: Sequence[WordTiming], offset_s: float = 0.0,
                        duration_s: float | None = None) -> CharacterAlignment | None:
    """Timings for each character of `text` (one chunk), in ms from the chunk's start.

    `words`: the engine's timings, in seconds from `offset_s` earlier than the chunk's start (a stream's
    words count from the start of the whole stream). `duration_s`: the chunk's audio length."""
    if not text or not words:
        return None
    # (first char, end char, start s, end s) of each word found in the text, in order.
    spans: list[tuple[int, int, float, float]] = []
    position = 0
    for word in words:
        found = text.find(word.word, position) if word.word else -1
        if found < 0:
            continue  # a word the engine spelled differently: its characters share the surrounding gap
        spans.append((found, found + len(word.word), word.start - offset_s, word.end - offset_s))
        position = found + len(word.word)
    if not spans:
        return None
    end_s = max(duration_s if duration_s is not None else 0.0, spans[-1][3])
    # boundaries[i]: when character i starts; boundaries[len(text)]: when the last one ends.
    boundaries = [0.0] * (len(text) + 1)
    previous_char, previous_s = 0, 0.0
    for first, end, start_s, stop_s in [*spans, (len(text), len(text), end_s, end_s)]:
        _spread(boundaries, previous_char, first, previous_s, start_s)
        _spread(boundaries, first, end, start_s, stop_s)
        previous_char, previous_s = end, stop_s
    boundaries[len(text)] = end_s
    milliseconds, latest = [], 0
    for seconds in boundaries:
        latest = max(latest, round(max(seconds, 0.0) * 1000))  # never earlier than the character before
        milliseconds.append(latest)
    return CharacterAlignment(chars=list(text), char_start_times_ms=milliseconds[:-1],
                              char_durations_ms=[b - a for a, b in itertools.pairwise(milliseconds)])


def _spread(boundaries: list[float], first: int, end: int, start_s: float, stop_s: float) -> None:
    """Characters first..end-1 share start_s..stop_s evenly."""
    count = end - first
    for i in range(count):
        boundaries[first + i] = start_s + (stop_s - start_s) * i / count
