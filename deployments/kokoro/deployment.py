"""Ray Serve deployment for Kokoro: a thin shell over KokoroEngine and its backend.

Pieces run either through the deadline scheduler (scheduler.py; onnx: one piece per inference
thread) or, on a backend that batches requests, through the request batcher (piece_batcher.py;
torch: pieces from all requests share forward passes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import numpy as np
from ray import serve

from deployments.kokoro import metrics
from deployments.kokoro.engine import KokoroEngine, PlannedPiece, RenderedPiece
from deployments.kokoro.piece_batcher import PieceBatcher
from deployments.kokoro.protocol import SAMPLE_RATE, KokoroRequest, VoiceInfo
from deployments.kokoro.scheduler import InferenceScheduler
from deployments.kokoro.settings import BatchingConfig, KokoroSettings
from ground.errors import EngineUnavailable
from ground.replies import AudioChunk, EngineHealth, SynthesisResult, WordTiming

logger = logging.getLogger("ray.serve")


def build_backend(settings: KokoroSettings):
    if settings.backend == "torch":
        from deployments.kokoro.torch_backend import TorchBackend

        return TorchBackend(settings.weights_dir, settings.cache_dir, half=settings.half,
                            decoder_batch=settings.decoder_batch)
    from deployments.kokoro.onnx_backend import OnnxBackend

    return OnnxBackend(settings.cache_dir, settings.intra_op_threads, settings.providers, settings.float_convs,
                       settings.shared_intra_op_threads)


def shifted(words: list[WordTiming], seconds: float) -> list[WordTiming]:
    return [WordTiming(w.word, w.start + seconds, w.end + seconds) for w in words]


# Requests queue inside the replica (scheduler or batcher), so it accepts many at once (Ray's default is 5).
@serve.deployment(name="Kokoro", ray_actor_options={"num_cpus": 1}, max_ongoing_requests=32)
class KokoroDeployment:
    def __init__(self, settings: dict | KokoroSettings):
        self.settings = KokoroSettings.model_validate(settings)
        self.unavailable_reason: str | None = None
        # Exactly one of them runs the pieces once the engine is loaded.
        self.batcher: PieceBatcher | None = None
        self.scheduler: InferenceScheduler | None = None
        self.user_config: dict | None = None
        try:
            self.engine = KokoroEngine.from_packages(
                build_backend(self.settings), self.settings.voice_dirs, self.settings.voice_aliases, self.settings.sentence_pause_s
            )
            self.engine.voices.resolve(self.settings.default_voice)
            # Speak once before taking traffic: the English G2P (spaCy) loads and the backend allocates on
            # first use, which would otherwise land on the first client's request (seconds on a CPU).
            self.engine.synthesize(KokoroRequest(text="Ready.", voice=self.settings.default_voice))
            if self.engine.backend.batches_requests:
                self.batcher = PieceBatcher(self.engine, BatchingConfig())
            else:
                self.scheduler = InferenceScheduler(self.settings.inference_workers, self.settings.opening_workers)
        except Exception as error:  # the gateway keeps serving and reports why
            logger.exception("Kokoro could not load")
            self.unavailable_reason = f"{type(error).__name__}: {error}"

    def reconfigure(self, user_config: dict) -> None:
        """Batch limits from the serve config's `user_config`; Serve calls this on every change."""
        config = BatchingConfig.model_validate(user_config)
        self.user_config = config.model_dump()
        if self.batcher:
            self.batcher.configure(config)

    @property
    def queued_pieces(self) -> int:
        """Pieces waiting to be rendered, in whichever of the batcher and the scheduler runs them."""
        runner = self.batcher or self.scheduler
        return runner.queued if runner else 0

    def _render(self, planned: PlannedPiece) -> RenderedPiece:
        """One piece on a scheduler thread, in a pass of its own (what its real-time factor times)."""
        started = time.perf_counter()
        rendered = self.engine.render(planned, cores_shared=self.scheduler.running > 1)
        rtf = len(rendered.audio) / SAMPLE_RATE / (time.perf_counter() - started)
        metrics.real_time_factor.observe(rtf, tags=metrics.ENGINE_TAGS)
        return rendered

    async def _run(self, planned: PlannedPiece, due: float, opening: bool = False) -> RenderedPiece:
        """Render a piece that its listener needs at `due` (time.monotonic()); `opening`: a stream's short
        first piece, which may take the opening lane (a whole request's first piece is not short)."""
        if self.batcher:
            return await self.batcher.render(planned)
        return await self.scheduler.run(due, self._render, planned, opening=opening)

    def _require_ready(self) -> None:
        if self.unavailable_reason:
            raise EngineUnavailable(f"Kokoro is unavailable: {self.unavailable_reason}")

    async def health(self) -> EngineHealth:
        return EngineHealth(
            engine="kokoro",
            status="unavailable" if self.unavailable_reason else "ready",
            backend=self.settings.backend,
            reason=self.unavailable_reason,
            queued_pieces=self.queued_pieces,
            batching=self._batching(),
            user_config=self.user_config,
        )

    def _batching(self) -> dict[str, float]:
        if self.batcher is None:  # the ONNX backend: one piece per pass, several passes side by side
            return {"pieces_per_pass": 1}
        config = self.batcher.config
        return {"pieces_per_pass": config.max_batch_size, "batch_wait_s": config.batch_wait_timeout_s}

    async def voices(self) -> list[VoiceInfo]:
        self._require_ready()
        return self.engine.voice_list()

    async def default_voice(self) -> str:
        return self.settings.default_voice

    async def synthesize(self, request: KokoroRequest) -> SynthesisResult:
        self._require_ready()
        arrived = time.monotonic()
        pieces = await asyncio.to_thread(lambda: list(self.engine.plan(request)))
        rendered = await asyncio.gather(*(self._run(p, due=arrived) for p in pieces))  # nothing plays before the end
        words, elapsed = [], 0.0
        for piece in rendered:
            words += shifted(piece.words, elapsed)
            elapsed += len(piece.audio) / SAMPLE_RATE
        audio = np.concatenate([piece.audio for piece in rendered])
        return SynthesisResult(audio, SAMPLE_RATE, len(pieces), sum(len(p.token_ids) for p in pieces), words)

    async def stream(self, request: KokoroRequest) -> AsyncIterator[AudioChunk]:
        """Yield each piece as soon as it is spoken, rendering the next one meanwhile; each piece is due when
        the audio before it has played."""
        self._require_ready()
        arrived = time.monotonic()
        if request.first_piece_max_tokens is None:
            request = request.model_copy(update={"first_piece_max_tokens": self.settings.stream_first_piece_tokens})
        pieces = self.engine.plan(request)
        planned = await asyncio.to_thread(next, pieces, None)
        render = asyncio.ensure_future(self._run(planned, due=arrived, opening=True))
        elapsed = 0.0
        try:
            while planned is not None:
                following = await asyncio.to_thread(next, pieces, None)
                rendered = await render
                words = shifted(rendered.words, elapsed)
                elapsed += len(rendered.audio) / SAMPLE_RATE
                if following is not None:
                    render = asyncio.ensure_future(self._run(following, due=arrived + elapsed))
                yield AudioChunk(rendered.audio, SAMPLE_RATE, planned.text, planned.index, len(planned.token_ids), words)
                planned = following
        finally:
            render.cancel()  # the client left: drop the piece that has not started
