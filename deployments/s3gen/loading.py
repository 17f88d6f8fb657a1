"""An engine over an S3Gen-based model whose checkpoint may not be there.

Such an engine (the Chatterbox models, voice conversion) still constructs when its model cannot load (no
checkpoint, chatterbox-tts not installed, no GPU where one was asked for): it reports why in
`health()` and every call raises EngineUnavailable with that reason, so the rest of the
application keeps serving.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ground.errors import EngineUnavailable

logger = logging.getLogger(__name__)

MIN_REFERENCE_SEC = 1.0


class Unavailable(Exception):
    """An expected reason not to load, worded for /health."""


class CheckpointEngine:
    """Subclasses name themselves and implement `_build` (the model on `self.device`); their settings
    are a deployments.s3gen.settings.CheckpointSettings."""

    model_name = ""  # in "the <model> model failed to load"
    service_name = ""  # in "<service> is unavailable"

    def __init__(self, settings):
        self.settings = settings
        self.device: str | None = None
        self.reason: str | None = None
        self._model: Any = None
        try:
            self._model = self._load()
        except Unavailable as exc:
            self.reason = str(exc)
        except Exception as exc:
            logger.exception("%s failed to load", self.model_name)
            self.reason = f"the {self.model_name} model failed to load: {type(exc).__name__}: {exc}"
        if self.reason:
            logger.warning("%s unavailable: %s", self.service_name, self.reason)

    def _load(self):
        if self.settings.checkpoint_dir is None and self.settings.hub_repo is None:
            raise Unavailable(f"no {self.model_name} checkpoint configured (set checkpoint_dir or hub_repo)")
        self.device = self._resolve_device()
        if self.settings.torch_threads:
            import torch

            torch.set_num_threads(self.settings.torch_threads)
        return self._build()

    def _build(self):
        raise NotImplementedError

    def _resolve_device(self) -> str:
        try:
            import torch
        except ImportError as exc:
            raise Unavailable(f"chatterbox-tts is not installed ({exc})") from exc
        device = self.settings.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise Unavailable("device 'cuda' was asked for, but torch sees no CUDA device")
        return device

    def _checkpoint_dir(self, files: tuple[str, ...]) -> Path:
        """The configured checkpoint directory, or a download, holding `files`."""
        from deployments.s3gen import checkpoint

        try:
            return checkpoint.locate(self.settings.checkpoint_dir, self.settings.hub_repo, files)
        except checkpoint.CheckpointMissing as exc:
            raise Unavailable(str(exc)) from exc

    def _reference_limit(self, requested_sec: float | None) -> float:
        """A reference is cut to what the request asks, never beyond the deployment's setting."""
        limit = self.settings.max_reference_duration_sec
        return limit if requested_sec is None else min(limit, requested_sec)

    @property
    def available(self) -> bool:
        return self._model is not None

    def health_batching(self) -> dict[str, float]:
        """How the replica's S3Gen batcher groups work, for /health (subclasses add their own stages)."""
        limits = self.s3gen_batcher.limits
        return {"s3gen_items_per_pass": limits.s3gen_max_batch, "s3gen_frames_per_pass": limits.s3gen_max_batch_frames}

    def _ready(self):
        if self._model is None:
            raise EngineUnavailable(f"{self.service_name} is unavailable: {self.reason}")
        return self._model
