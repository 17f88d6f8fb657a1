"""Ray Serve deployment for voice conversion: input speech re-spoken by S3Gen in a library voice or
the voice of a one-off recording.

Separate from Chatterbox so that it scales on its own: conversion needs only S3Gen, not T3, and
its load (minutes of uploaded audio) differs from text-to-speech. Pieces of concurrent conversions
share S3Gen passes (the engine's batcher, limited by the user_config).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from ray import serve

from deployments.chatterbox.batching import S3GenLimits
from deployments.chatterbox.protocol import CONDITIONALS, LibraryVoice
from deployments.conversion.engine import ConversionEngine
from deployments.conversion.protocol import ConvertedPiece, S3GenRequest
from deployments.conversion.settings import ConversionSettings
from deployments.protocol import EngineHealth, SynthesisResult
from deployments.voice_library import VoiceLibrary

if TYPE_CHECKING:
    from deployments.conversion.model import Target

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
        """The S3Gen batch limits from the serve config's `user_config`; Serve calls this on every change."""
        limits = S3GenLimits.model_validate(user_config)
        self.user_config = limits.model_dump()
        if self.engine.available:
            self.engine.configure(limits)

    async def health(self) -> EngineHealth:
        return EngineHealth(engine="conversion", status="ready" if self.engine.available else "unavailable",
                            backend=self.engine.device or "none", reason=self.engine.reason,
                            user_config=self.user_config)

    async def convert(self, request: S3GenRequest) -> SynthesisResult:
        """The whole conversion at once (convert_stream's pieces, joined here)."""
        # Worker threads: the replica keeps answering health checks while S3Gen works.
        audio, pieces = await self._in_worker(
            lambda: self.engine.convert(request.samples, request.sample_rate, self._target(request),
                                        request.no_watermark))
        return SynthesisResult(audio, self.engine.sr, pieces, 0)

    async def convert_stream(self, request: S3GenRequest) -> AsyncIterator[ConvertedPiece]:
        """The conversion piece by piece, in order, each as soon as it and those before it are done.

        A caller that stops listening (a cancelled job, a gone client) drops the pieces not yet rendered.
        """
        pieces = await self._in_worker(
            lambda: self.engine.convert_pieces(request.samples, request.sample_rate, self._target(request),
                                               request.no_watermark))
        try:
            while (piece := await self._in_worker(next, pieces, None)) is not None:
                yield piece
        finally:
            pieces.cancel()

    async def _in_worker(self, work, *args):
        return await asyncio.get_running_loop().run_in_executor(self._workers, work, *args)

    def _target(self, request: S3GenRequest) -> Target:
        target = request.target
        if isinstance(target, LibraryVoice):
            voice = target
            # Keyed by version too: a voice deleted and re-created under the same id is never served stale.
            return self.engine.library_target(
                f"{voice.voice_id}@{voice.version}",
                lambda: self.library.read_artifact(self.library.get(voice.voice_id), CONDITIONALS))
        return self.engine.reference_target(target.samples, target.sample_rate, request.max_reference_duration_sec)
