"""Resampling and loudness normalization that work the same on a whole clip or a stream."""

from __future__ import annotations

from typing import Literal

import numpy as np
import soxr

Normalization = Literal["peak", "rms"]
PEAK_TARGET = 10 ** (-1 / 20)  # -1 dBFS
RMS_TARGET = 10 ** (-20 / 20)  # -20 dBFS


class StreamResampler:
    """soxr's streaming resampler; a pass-through when the rates match."""

    def __init__(self, source_rate: int, target_rate: int):
        self._stream = None if source_rate == target_rate else soxr.ResampleStream(source_rate, target_rate, 1, dtype="float32")

    def process(self, audio: np.ndarray, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return audio
        return self._stream.resample_chunk(audio.astype(np.float32), last=last)


class Normalizer:
    """Scales audio to a peak or RMS target.

    The gain is fixed from the first non-silent chunk, so a stream keeps one level
    throughout; a whole clip is one chunk and gets the exact target. Samples are
    clipped to [-1, 1] afterwards.
    """

    def __init__(self, mode: Normalization | None):
        self._mode = mode
        self._gain: float | None = None

    def process(self, audio: np.ndarray) -> np.ndarray:
        if self._mode is None or audio.size == 0:
            return audio
        if self._gain is None:
            level = float(np.max(np.abs(audio))) if self._mode == "peak" else float(np.sqrt(np.mean(audio**2)))
            if level < 1e-6:
                return audio
            self._gain = (PEAK_TARGET if self._mode == "peak" else RMS_TARGET) / level
        return np.clip(audio * self._gain, -1.0, 1.0).astype(np.float32)
