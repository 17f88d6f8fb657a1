"""Ray Serve deployment for voice conversion: input speech re-spoken by S3Gen in a library voice or
the voice of a one-off recording.

Separate from Chatterbox so that it scales on its own: conversion needs only S3Gen, not T3, and
its load (minutes of uploaded audio) differs from text-to-speech. Pieces of concurrent conversions
share S3Gen passes (the engine's batcher, limited by the user_config).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ray import serve

from deployments.conversion.engine import ConversionEngine
from deployments.conversion.protocol import ConvertedPiece, S3GenRequest
from deployments.conversion.settings import ConversionSettings
from deployments.s3gen.protocol import LibraryVoice
from deployments.s3gen.shell import S3GenDeploymentShell
from ground.replies import SynthesisResult

if TYPE_CHECKING:
    from deployments.conversion.model import Target

MAX_ONGOING_REQUESTS = 16


@serve.deployment(name="Conversion", max_ongoing_requests=MAX_ONGOING_REQUESTS, ray_actor_options={"num_cpus": 1})
class ConversionDeployment(S3GenDeploymentShell):
    engine_name = "conversion"
    settings_model = ConversionSettings
    max_ongoing_requests = MAX_ONGOING_REQUESTS

    def _engine(self, settings: ConversionSettings) -> ConversionEngine:
        return ConversionEngine(settings)

    async def convert(self, request: S3GenRequest) -> SynthesisResult:
        """The whole conversion at once (convert_stream's pieces, joined here)."""
        audio, pieces = await self._waiting(
            lambda: self.engine.convert(request.samples, request.sample_rate, self._target(request),
                                        request.no_watermark))
        return SynthesisResult(audio, self.engine.sr, pieces, 0)

    async def convert_stream(self, request: S3GenRequest) -> AsyncIterator[ConvertedPiece]:
        """The conversion piece by piece, in order, each as soon as it and those before it are done.

        A caller that stops listening (a cancelled job, a gone client) drops the pieces not yet rendered.
        """
        pieces = await self._waiting(
            lambda: self.engine.convert_pieces(request.samples, request.sample_rate, self._target(request),
                                               request.no_watermark))
        try:
            while (piece := await self._waiting(next, pieces, None)) is not None:
                yield piece
        finally:
            pieces.cancel()

    def _target(self, request: S3GenRequest) -> Target:
        target = request.target
        if isinstance(target, LibraryVoice):
            return self.engine.library_target(*self._library_voice(target))
        return self.engine.reference_target(target.samples, target.sample_rate, request.max_reference_duration_sec)
