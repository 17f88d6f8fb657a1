"""Ray Serve deployment for Kokoro: a thin shell over KokoroEngine and its backend."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import numpy as np
from ray import serve

from deployments.errors import EngineUnavailable
from deployments.kokoro import metrics
from deployments.kokoro.engine import KokoroEngine, PlannedPiece
from deployments.kokoro.protocol import SAMPLE_RATE, AudioChunk, EngineHealth, SpeechRequest, SynthesisResult, VoiceInfo
from deployments.kokoro.scheduler import InferenceScheduler
from deployments.kokoro.settings import KokoroSettings

logger = logging.getLogger("ray.serve")
ENGINE_TAGS = {"engine": "kokoro"}


def build_backend(settings: KokoroSettings):
    if settings.backend == "torch":
        from deployments.kokoro.torch_backend import TorchBackend

        return TorchBackend(settings.weights_dir, settings.cache_dir, half=settings.half)
    from deployments.kokoro.onnx_backend import OnnxBackend

    return OnnxBackend(settings.cache_dir, settings.intra_op_threads, settings.providers, settings.float_convs)


# Requests queue inside the replica's scheduler, so it accepts many at once (Ray's default is 5).
@serve.deployment(name="Kokoro", ray_actor_options={"num_cpus": 1}, max_ongoing_requests=32)
class KokoroDeployment:
    def __init__(self, settings: dict | KokoroSettings):
        self.settings = KokoroSettings.model_validate(settings)
        self.unavailable_reason: str | None = None
        try:
            self.engine = KokoroEngine.from_packages(
                build_backend(self.settings), self.settings.voice_dirs, self.settings.voice_aliases, self.settings.sentence_pause_s
            )
            self.engine.voices.resolve(self.settings.default_voice)
        except Exception as error:  # the gateway keeps serving and reports why
            logger.exception("Kokoro could not load")
            self.unavailable_reason = f"{type(error).__name__}: {error}"
        self.scheduler = InferenceScheduler(self.settings.inference_workers)

    def _render(self, planned: PlannedPiece) -> np.ndarray:
        metrics.queue_depth.set(self.scheduler.queued, tags=ENGINE_TAGS)
        started = time.perf_counter()
        audio = self.engine.render(planned)
        metrics.real_time_factor.observe(len(audio) / SAMPLE_RATE / (time.perf_counter() - started), tags=ENGINE_TAGS)
        return audio

    async def _run(self, planned: PlannedPiece) -> np.ndarray:
        try:
            return await self.scheduler.run(planned.index, self._render, planned)
        finally:
            metrics.queue_depth.set(self.scheduler.queued, tags=ENGINE_TAGS)

    def _require_ready(self) -> None:
        if self.unavailable_reason:
            raise EngineUnavailable(f"Kokoro is unavailable: {self.unavailable_reason}")

    async def health(self) -> EngineHealth:
        return EngineHealth(
            engine="kokoro",
            status="unavailable" if self.unavailable_reason else "ready",
            backend=self.settings.backend,
            reason=self.unavailable_reason,
            queued_pieces=self.scheduler.queued,
        )

    async def voices(self) -> list[VoiceInfo]:
        self._require_ready()
        return self.engine.voice_list()

    async def default_voice(self) -> str:
        return self.settings.default_voice

    async def synthesize(self, request: SpeechRequest) -> SynthesisResult:
        self._require_ready()
        pieces = await asyncio.to_thread(lambda: list(self.engine.plan(request)))
        audio = await asyncio.gather(*(self._run(p) for p in pieces))
        return SynthesisResult(np.concatenate(audio), SAMPLE_RATE, len(pieces), sum(len(p.token_ids) for p in pieces))

    async def stream(self, request: SpeechRequest) -> AsyncIterator[AudioChunk]:
        """Yield each piece as soon as it is spoken, rendering the next one meanwhile."""
        self._require_ready()
        if request.first_piece_max_tokens is None:
            request = request.model_copy(update={"first_piece_max_tokens": self.settings.stream_first_piece_tokens})
        pieces = self.engine.plan(request)
        planned = await asyncio.to_thread(next, pieces, None)
        job = asyncio.ensure_future(self._run(planned))
        try:
            while planned is not None:
                following = await asyncio.to_thread(next, pieces, None)
                audio = await job
                if following is not None:
                    job = asyncio.ensure_future(self._run(following))
                yield AudioChunk(audio, SAMPLE_RATE, planned.text, planned.index, len(planned.token_ids))
                planned = following
        finally:
            job.cancel()  # the client left: drop the piece that has not started
