"""The torch path's queue depth: pieces in Kokoro's request batcher waiting for their forward pass.

(deployments/kokoro/piece_batcher.py) @serve.batch runs in a plain asyncio loop, without Serve,
once it is given a replica context (it only reads max_ongoing_requests, for a warning). Its
queue belongs to the decorated function and to the first loop that uses it, so this module
drives PieceBatcher in one loop only. tests/served/test_torch_serving.py checks /health on a replica.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from types import SimpleNamespace

import numpy as np
from ray import serve

from deployments.kokoro.engine import PlannedPiece, RenderedPiece
from deployments.kokoro.piece_batcher import PieceBatcher
from deployments.kokoro.protocol import SAMPLE_RATE
from deployments.kokoro.settings import BatchingConfig


class BlockingEngine:
    """Stands in for KokoroEngine: each forward pass holds until the test lets one finish."""

    def __init__(self):
        self.passes: list[list[int]] = []  # the pieces' indices, per pass, as passes start
        self.finish = threading.Semaphore(0)

    def render_batch(self, pieces: Sequence[PlannedPiece]) -> list[RenderedPiece]:
        self.passes.append([piece.index for piece in pieces])
        assert self.finish.acquire(timeout=30), "the test never let the pass finish"
        return [RenderedPiece(np.full(SAMPLE_RATE, piece.index, np.float32), []) for piece in pieces]


def piece(index: int) -> PlannedPiece:
    return PlannedPiece(index, f"piece {index}", [1, 2, 3], np.zeros(256, np.float32), 1.0, 0.0)


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")


def test_queued_counts_pieces_waiting_for_their_forward_pass(monkeypatch):
    replica = SimpleNamespace(_deployment_config=SimpleNamespace(max_ongoing_requests=32))
    monkeypatch.setattr(serve, "get_replica_context", lambda: replica)
    engine = BlockingEngine()
    batcher = PieceBatcher(engine, BatchingConfig(max_batch_size=2, batch_wait_timeout_s=0))

    async def scenario() -> None:
        first = asyncio.ensure_future(batcher.render(piece(0)))
        await until(lambda: engine.passes == [[0]], "the first pass starts")
        assert batcher.queued == 0  # rendering, no longer waiting

        waiting = [asyncio.ensure_future(batcher.render(piece(i))) for i in (1, 2, 3)]
        await until(lambda: batcher.queued == 3, "three pieces wait behind the running pass")
        waiting[2].cancel()  # a stream whose client left
        await until(lambda: batcher.queued == 2, "the cancelled piece stops counting")

        engine.finish.release()
        assert (await first).audio[0] == 0
        await until(lambda: len(engine.passes) == 2, "the waiting pieces' pass starts")
        assert engine.passes[1] == [1, 2] and batcher.queued == 0

        engine.finish.release()
        rendered = await asyncio.gather(*waiting[:2])
        assert [r.audio[0] for r in rendered] == [1, 2]
        assert batcher.queued == 0 and len(engine.passes) == 2  # the cancelled piece never ran

    try:
        asyncio.run(scenario())
    finally:
        engine.finish.release(2)  # no worker thread outlives a failed run
