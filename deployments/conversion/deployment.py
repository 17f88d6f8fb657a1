"""Ray Serve deployment for voice conversion: input speech re-spoken by S3Gen in a library voice or
the voice of a one-off recording.

Separate from Chatterbox so that it scales on its own: conversion needs only S3Gen, not T3, and
its load (minutes of uploaded audio) differs from text-to-speech. Pieces of concurrent conversions
share S3Gen passes (the engine's batcher, limited by the user_config).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from ray import serve

from deployments.chatterbox.batching import S3GenLimits
from deployments.chatterbox.protocol import CONDITIONALS, LibraryVoice
from deployments.conversion.engine import ConversionEngine
from deployments.conversion.protocol import S3GenRequest
from deployments.conversion.settings import ConversionSettings
from deployments.protocol import EngineHealth, SynthesisResult
from deployments.voice_library import VoiceLibrary

MAX_ONGOING_REQUESTS = 16


@serve.deployment(name="Conversion", max_ongoing_requests=MAX_ONGOING_REQUESTS, ray_actor_options={"num_cpus": 1})
class ConversionDeployment:
    def __init__(self, settings: dict | ConversionSettings, library_root: Path | str):
        self.settings = ConversionSettings.model_validate(settings)
        self.library = VoiceLibrary(Path(library_root))
        self.engine = ConversionEngine(self.settings)
        self.user_config: dict | None = None
        # One thread per ongoing request, each mostly waiting on its pieces in the S3Gen batcher.
        self._workers = ThreadPoolExecutor(max_workers=MAX_ONGOING_REQUESTS, thread_name_prefix="conversion")

    def reconfigure(self, user_config: dict) -> None:
        """The S3Gen batch limit from the serve config's `user_config`; Serve calls this on every change."""
        limits = S3GenLimits.model_validate(user_config)
        self.user_config = limits.model_dump()
        if self.engine.available:
            self.engine.configure(limits)

    async def health(self) -> EngineHealth:
        return EngineHealth(engine="conversion", status="ready" if self.engine.available else "unavailable",
                            backend=self.engine.device or "none", reason=self.engine.reason,
                            user_config=self.user_config)

    async def convert(self, request: S3GenRequest) -> SynthesisResult:
        # A worker thread: the replica keeps answering health checks while S3Gen works.
        audio, pieces = await asyncio.get_running_loop().run_in_executor(self._workers, self._convert, request)
        return SynthesisResult(audio, self.engine.sr, pieces, 0)

    def _convert(self, request: S3GenRequest) -> tuple[np.ndarray, int]:
        target = request.target
        if isinstance(target, LibraryVoice):
            voice = target
            # Keyed by version too: a voice deleted and re-created under the same id is never served stale.
            target = self.engine.library_target(
                f"{voice.voice_id}@{voice.version}",
                lambda: self.library.read_artifact(self.library.get(voice.voice_id), CONDITIONALS))
        else:
            target = self.engine.reference_target(target.samples, target.sample_rate,
                                                   request.max_reference_duration_sec)
        return self.engine.convert(request.samples, request.sample_rate, target, request.no_watermark)
