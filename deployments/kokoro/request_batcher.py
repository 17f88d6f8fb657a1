"""Dynamic batching for the torch backend: pieces from every request in a replica share forward passes.

Requests enter one piece at a time (a stream asks for its next piece only when the previous
one is done), so a long streamed text takes one slot per pass and short requests ride along
instead of waiting behind it.
"""

from __future__ import annotations

import asyncio
import time

from ray import serve

from deployments.kokoro import metrics
from deployments.kokoro.engine import KokoroEngine, PlannedPiece, RenderedPiece
from deployments.kokoro.protocol import SAMPLE_RATE
from deployments.kokoro.settings import BatchingConfig


class PieceBatcher:
    def __init__(self, engine: KokoroEngine, config: BatchingConfig):
        self.engine = engine
        self.configure(config)

    def configure(self, config: BatchingConfig) -> None:
        self.config = config
        self.render.set_max_batch_size(config.max_batch_size)
        self.render.set_batch_wait_timeout_s(config.batch_wait_timeout_s)

    # The limits set here are replaced by `configure` before the first call.
    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def render(self, pieces: list[PlannedPiece]) -> list[RenderedPiece]:
        metrics.batch_size.observe(len(pieces), tags=metrics.ENGINE_TAGS)
        started = time.perf_counter()
        # In a worker thread: the replica's event loop keeps answering health checks meanwhile.
        rendered = await asyncio.to_thread(self.engine.render_batch, pieces)
        audio_s = sum(len(r.audio) for r in rendered) / SAMPLE_RATE
        metrics.real_time_factor.observe(audio_s / (time.perf_counter() - started), tags=metrics.ENGINE_TAGS)
        return rendered
