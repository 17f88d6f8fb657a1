"""Long input in pieces: cut where the speaker pauses, converted one by one, joined by a crossfade.

S3Gen converts a clip in one pass whose attention grows with the square of its length, and its
tokenizer reads at most 30 s at once; a minute of speech is better converted as a few pieces.
A cut placed at the quietest moment near its even spot lands in a pause between words or
sentences, where a short crossfade leaves no audible seam.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from deployments.conversion.protocol import ConvertedPiece

PAUSE_SEARCH_SEC = 2.0  # a cut may move this far from its even spot to find a pause
FRAME_SEC = 0.02  # loudness is measured over 20 ms frames, shorter than a gap between words
OVERLAP_SEC = 0.1  # neighbouring pieces share this much input, centred on their cut...
FADE_SEC = 0.05  # ...and cross over in its second half: S3Gen fades every output in over its first 40 ms


def split_at_pauses(audio: np.ndarray, sample_rate: int, piece_sec: float) -> list[tuple[int, int]]:
    """(start, end) sample ranges that cover `audio`, each about `piece_sec` long at most (a
    pause search may add up to twice PAUSE_SEARCH_SEC); neighbours overlap by OVERLAP_SEC."""
    count = math.ceil(len(audio) / (piece_sec * sample_rate))
    if count <= 1:
        return [(0, len(audio))]
    hop = int(FRAME_SEC * sample_rate)
    frames = np.lib.stride_tricks.sliding_window_view(audio, hop)[::hop]
    loudness = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    spacing = len(audio) / count
    # A quarter of the spacing at most, so that neighbouring searches never cross.
    search = min(int(PAUSE_SEARCH_SEC * sample_rate), int(spacing / 4)) // hop
    cuts = []
    for k in range(1, count):
        even = round(k * spacing) // hop
        low, high = max(0, even - search), min(len(loudness), even + search + 1)
        quietest = low + int(np.argmin(loudness[low:high]))
        cuts.append(quietest * hop + hop // 2)  # the middle of the quietest frame
    half = int(OVERLAP_SEC * sample_rate / 2)
    bounds = [0, *cuts, len(audio)]
    return [(max(0, start - half), min(len(audio), end + half)) for start, end in itertools.pairwise(bounds)]


def crossfade_join(pieces: list[np.ndarray], starts: list[int], length: int, sample_rate: int) -> np.ndarray:
    """One clip of `length` samples from pieces placed at `starts`, each overlapping the one before.

    Across a shared stretch the earlier piece plays on until the last FADE_SEC, then a raised-cosine
    crossfade hands over to the later piece (whose own fade-in lies before the crossfade).
    """
    out = np.zeros(length, dtype=np.float32)
    written = 0
    fade_len = int(FADE_SEC * sample_rate)
    for piece, start in zip(pieces, starts, strict=True):
        piece = piece[:length - start]
        shared = max(0, min(written - start, len(piece)))
        if shared:
            fade = min(fade_len, shared)
            ramp = np.zeros(shared, dtype=np.float32)
            ramp[shared - fade:] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
            out[start:start + shared] = out[start:start + shared] * (1 - ramp) + piece[:shared] * ramp
        out[start + shared:start + len(piece)] = piece[shared:]
        written = start + len(piece)
    return out


def joined(pieces: list[ConvertedPiece]) -> np.ndarray:
    """The whole conversion from all of its pieces (convert_stream's, in order)."""
    if not pieces:
        return np.zeros(0, np.float32)
    return crossfade_join([piece.audio for piece in pieces], [piece.start for piece in pieces],
                          pieces[0].length, pieces[0].sample_rate)
