"""From engine samples to response bytes: resample, normalize, encode, chunk by chunk."""

from __future__ import annotations

import numpy as np

from audio.encoding import StreamEncoder, encode_whole
from audio.processing import Normalization, Normalizer, StreamResampler


class AudioOutput:
    def __init__(self, audio_format: str, source_rate: int, target_rate: int | None = None,
                 normalization: Normalization | None = None):
        self.format = audio_format
        self.sample_rate = target_rate or source_rate
        self._resampler = StreamResampler(source_rate, self.sample_rate)
        self._normalizer = Normalizer(normalization)
        self._encoder = StreamEncoder(audio_format, self.sample_rate)

    def _prepare(self, audio: np.ndarray, last: bool = False) -> np.ndarray:
        return self._normalizer.process(self._resampler.process(audio, last=last))

    def process(self, audio: np.ndarray) -> bytes:
        """Bytes to send now for the next chunk of engine audio."""
        return self._encoder.encode(self._prepare(audio))

    def finish(self) -> bytes:
        """The last bytes of the stream (resampler tail, encoder flush, container trailer)."""
        return self._encoder.encode(self._prepare(np.zeros(0, np.float32), last=True)) + self._encoder.finish()

    def whole(self, audio: np.ndarray) -> bytes:
        """Encode a complete clip (exact container headers)."""
        return encode_whole(self._prepare(audio, last=True), self.format, self.sample_rate)
