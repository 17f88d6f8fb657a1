"""The voice conversion engine without Ray: target voices, and input speech converted piece by piece.

Without S3Gen it stays up as unavailable, like the Chatterbox engine (deployments.s3gen.loading).

The pieces of an input go to the replica's S3Gen batcher together, so a long input is rendered
in batches of its own pieces (as the batch limits allow), and pieces of concurrent conversions
share passes. They come back one by one, so that a caller can bound the wait for each piece and
report progress. Target preparation and the watermarker take a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

import numpy as np
import soxr

from audio.clips import checked_clip
from deployments.conversion.pieces import joined, split_at_pauses
from deployments.conversion.protocol import MIN_INPUT_SEC, ConvertedPiece
from deployments.conversion.settings import ConversionSettings
from deployments.s3gen.limits import S3GenLimits
from deployments.s3gen.loading import MIN_REFERENCE_SEC, CheckpointEngine, Unavailable
from ground.errors import InvalidRequest
from ground.voice_cache import VoiceCache

if TYPE_CHECKING:
    from deployments.conversion.model import ConversionModel, Target
    from deployments.s3gen.batcher import S3GenBatcher


class ConversionEngine(CheckpointEngine):
    model_name = "S3Gen"
    service_name = "Voice conversion"

    def __init__(self, settings: ConversionSettings):
        self._targets: VoiceCache[Target] | None = None
        self._lock = threading.Lock()
        self.s3gen_batcher: S3GenBatcher | None = None
        super().__init__(settings)

    def _build(self) -> ConversionModel:
        try:
            from deployments.conversion.model import ConversionModel, target_nbytes
            from deployments.s3gen import checkpoint
            from deployments.s3gen.batcher import S3GenBatcher
        except ImportError as exc:
            raise Unavailable(f"chatterbox-tts is not installed ({exc})") from exc
        model = ConversionModel(self._checkpoint_dir((checkpoint.S3GEN_WEIGHTS,)), self.device)
        self._targets = VoiceCache(int(self.settings.voice_cache_mb * 2**20), target_nbytes)
        self.s3gen_batcher = S3GenBatcher(model.s3gen, self.settings.batching, self.settings.s3gen_steps)
        return model

    def configure(self, limits: S3GenLimits) -> None:
        """New batch limits for the running S3Gen batcher (the deployment's user_config)."""
        self._ready()
        self.s3gen_batcher.limits = limits

    @property
    def sr(self) -> int:
        """Sample rate of the converted audio (24 kHz)."""
        return self._ready().sr

    # -- targets -------------------------------------------------------------------------------

    def reference_target(self, audio: np.ndarray, sample_rate: int,
                         max_reference_duration_sec: float | None = None) -> Target:
        """The target voice of a one-off recording, cut to `max_reference_duration_sec` (never beyond
        the deployment's setting)."""
        model = self._ready()
        wav = checked_clip(audio, sample_rate, param="target_speaker", min_sec=MIN_REFERENCE_SEC,
                           max_sec=self._reference_limit(max_reference_duration_sec))
        wav = soxr.resample(wav, sample_rate, model.sr)
        with self._lock:
            return model.reference_target(wav)

    def library_target(self, key: str, load: Callable[[], bytes]) -> Target:
        """The target cached under `key` (a voice id and version), else the voice `load()` reads."""
        model = self._ready()

        def read() -> Target:
            data = load()
            try:
                return model.library_target(data)
            except Exception as exc:
                raise InvalidRequest(f"voice data could not be read: {exc}", param="voice") from exc

        return self._targets.get_or_load(key, read)

    # -- conversion ----------------------------------------------------------------------------

    def convert_pieces(self, audio: np.ndarray, sample_rate: int, target: Target,
                       no_watermark: bool = False) -> PiecesInFlight:
        """The input's pieces, queued in the S3Gen batcher now (so that they can share passes) and
        taken back in order; each piece is watermarked on its own."""
        model = self._ready()
        wav = checked_clip(audio, sample_rate, param="audio", min_sec=MIN_INPUT_SEC)
        wav = soxr.resample(wav, sample_rate, model.input_sr)
        spans = split_at_pauses(wav, model.input_sr, self.settings.piece_sec)
        inputs = [wav[start:end] for start, end in spans]
        ratio = model.sr / model.input_sr

        def finish(index: int, rendered: np.ndarray) -> ConvertedPiece:
            out = model.fit(rendered, inputs[index])
            if not no_watermark:
                with self._lock:
                    out = model.watermark(out)
            return ConvertedPiece(out, model.sr, round(spans[index][0] * ratio), round(len(wav) * ratio),
                                  index, len(spans))

        return PiecesInFlight(self.s3gen_batcher.submit_all([model.s3gen_item(piece, target) for piece in inputs]), finish)

    def convert(self, audio: np.ndarray, sample_rate: int, target: Target,
                no_watermark: bool = False) -> tuple[np.ndarray, int]:
        """Float32 mono audio at `sr`, as long as the input, and the number of pieces it took."""
        in_flight = self.convert_pieces(audio, sample_rate, target, no_watermark)
        try:
            pieces = list(in_flight)
        finally:  # a failed piece drops the rest of its input's work
            in_flight.cancel()
        return joined(pieces), len(pieces)


class PiecesInFlight:
    """A conversion's pieces in the S3Gen batcher: iterating waits for each in turn. `cancel` (safe from
    any thread, even while another waits) drops those not yet rendered."""

    def __init__(self, futures: list[Future], finish: Callable[[int, np.ndarray], ConvertedPiece]):
        self._futures = futures
        self._finish = finish
        self._taken = 0

    def __iter__(self) -> PiecesInFlight:
        return self

    def __next__(self) -> ConvertedPiece:
        if self._taken == len(self._futures):
            raise StopIteration
        index, self._taken = self._taken, self._taken + 1
        return self._finish(index, self._futures[index].result())

    def cancel(self) -> None:
        for future in self._futures:
            future.cancel()
