"""Dynamic batching for backends that batch requests (torch): pieces from every request in a
replica share forward passes.

Requests enter one piece at a time (a stream asks for its next piece only when the previous
one is done), so a long streamed text takes one slot per pass and short requests ride along
instead of waiting behind it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from ray import serve

from deployments.kokoro import metrics
from deployments.kokoro.engine import KokoroEngine, PlannedPiece, RenderedPiece
from deployments.kokoro.protocol import SAMPLE_RATE
from deployments.kokoro.settings import BatchingConfig


@dataclass(eq=False)  # compared by identity: each call waits on its own
class _Waiting:
    piece: PlannedPiece


class PieceBatcher:
    def __init__(self, engine: KokoroEngine, config: BatchingConfig):
        self.engine = engine
        self._waiting: set[_Waiting] = set()
        self.configure(config)

    def configure(self, config: BatchingConfig) -> None:
        self.config = config
        self._forward.set_max_batch_size(config.max_batch_size)
        self._forward.set_batch_wait_timeout_s(config.batch_wait_timeout_s)

    @property
    def queued(self) -> int:
        """Pieces that entered `render` and whose forward pass has not started yet."""
        return len(self._waiting)

    async def render(self, piece: PlannedPiece) -> RenderedPiece:
        """One piece, rendered in a forward pass it may share with the pieces of other requests."""
        waiting = _Waiting(piece)
        self._waiting.add(waiting)
        metrics.report_queue_depth(self.queued)
        try:
            return await self._forward(waiting)
        finally:
            # Cancelled before its pass began, the piece is dropped from the batch without starting.
            self._waiting.discard(waiting)
            metrics.report_queue_depth(self.queued)

    # The limits set here are replaced by `configure` before the first call.
    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def _forward(self, batch: list[_Waiting]) -> list[RenderedPiece]:
        self._waiting.difference_update(batch)
        metrics.report_queue_depth(self.queued)
        metrics.batch_size.observe(len(batch), tags=metrics.ENGINE_TAGS)
        started = time.perf_counter()
        # In a worker thread: the replica's event loop keeps answering health checks meanwhile.
        rendered = await asyncio.to_thread(self.engine.render_batch, [waiting.piece for waiting in batch])
        wall_s = time.perf_counter() - started
        for piece in rendered:  # every piece of the pass took the pass's whole time
            metrics.real_time_factor.observe(len(piece.audio) / SAMPLE_RATE / wall_s, tags=metrics.ENGINE_TAGS)
        return rendered
