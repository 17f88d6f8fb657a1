"""The voice conversion engine without Ray: target voices, and input speech converted piece by piece.

Like the Chatterbox engine, an engine that cannot load S3Gen (no checkpoint, chatterbox-tts not
installed, no GPU where one was asked for) still constructs: it reports why in `health()` and every
call raises EngineUnavailable with that reason, so the rest of the application keeps serving.

S3Gen runs one call at a time per replica, so calls take a lock, per piece of input: a short
conversion waits for one piece of a long one, not for all of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import soxr

from deployments.chatterbox.voice_cache import VoiceCache
from deployments.clips import checked_clip
from deployments.conversion.pieces import crossfade_join, split_at_pauses
from deployments.conversion.protocol import MIN_INPUT_SEC
from deployments.conversion.settings import ConversionSettings
from deployments.errors import EngineUnavailable, InvalidRequest

if TYPE_CHECKING:
    from deployments.conversion.model import ConversionModel, Target

logger = logging.getLogger(__name__)

MIN_REFERENCE_SEC = 1.0


class _Unavailable(Exception):
    """An expected reason not to load, worded for /health."""


class ConversionEngine:
    def __init__(self, settings: ConversionSettings):
        self.settings = settings
        self.device: str | None = None
        self.reason: str | None = None
        self._model: ConversionModel | None = None
        self._targets: VoiceCache[Target] | None = None
        self._lock = threading.Lock()
        try:
            self._model = self._load()
        except _Unavailable as exc:
            self.reason = str(exc)
        except Exception as exc:
            logger.exception("S3Gen failed to load")
            self.reason = f"the S3Gen model failed to load: {type(exc).__name__}: {exc}"
        if self.reason:
            logger.warning("Voice conversion unavailable: %s", self.reason)

    def _load(self) -> ConversionModel:
        settings = self.settings
        if settings.checkpoint_dir is None and settings.hub_repo is None:
            raise _Unavailable("no S3Gen checkpoint configured (set checkpoint_dir or hub_repo)")
        try:
            import torch

            from deployments.chatterbox import checkpoint
            from deployments.conversion.model import ConversionModel, target_nbytes
        except ImportError as exc:
            raise _Unavailable(f"chatterbox-tts is not installed ({exc})") from exc

        self.device = settings.device
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cuda" and not torch.cuda.is_available():
            raise _Unavailable("device 'cuda' was asked for, but torch sees no CUDA device")
        try:
            ckpt_dir = checkpoint.locate(settings.checkpoint_dir, settings.hub_repo, (checkpoint.S3GEN_WEIGHTS,))
        except checkpoint.CheckpointMissing as exc:
            raise _Unavailable(str(exc)) from exc
        model = ConversionModel(ckpt_dir, self.device)
        self._targets = VoiceCache(int(settings.voice_cache_mb * 2**20), target_nbytes)
        return model

    # -- state ---------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._model is not None

    def health(self) -> dict:
        return {"available": self.available, "reason": self.reason, "device": self.device}

    def _ready(self) -> ConversionModel:
        if self._model is None:
            raise EngineUnavailable(f"Voice conversion is unavailable: {self.reason}")
        return self._model

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
        limit = self.settings.max_reference_duration_sec
        if max_reference_duration_sec is not None:
            limit = min(limit, max_reference_duration_sec)
        wav = checked_clip(audio, sample_rate, param="target_speaker", min_sec=MIN_REFERENCE_SEC, max_sec=limit)
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

    def convert(self, audio: np.ndarray, sample_rate: int, target: Target,
                no_watermark: bool = False) -> tuple[np.ndarray, int]:
        """Float32 mono audio at `sr`, as long as the input, and the number of pieces it took."""
        model = self._ready()
        wav = checked_clip(audio, sample_rate, param="audio", min_sec=MIN_INPUT_SEC)
        wav = soxr.resample(wav, sample_rate, model.input_sr)
        spans = split_at_pauses(wav, model.input_sr, self.settings.piece_sec)
        pieces = []
        for start, end in spans:
            with self._lock:
                pieces.append(model.convert(wav[start:end], target))
        ratio = model.sr / model.input_sr
        out = crossfade_join(pieces, [round(start * ratio) for start, _ in spans], round(len(wav) * ratio), model.sr)
        if not no_watermark:
            with self._lock:
                out = model.watermark(out)
        return out, len(spans)
