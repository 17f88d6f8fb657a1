"""Runs inference jobs on a few worker threads, lowest priority value first.

Priority is a piece's position in its text, so the opening pieces of new requests go
ahead of the tails of long ones: every concurrent stream starts quickly and long texts
do not block short ones. The event loop stays free for health checks meanwhile.

Priority alone cannot stop an opening piece from waiting for a worker that is busy with
another request's long piece (seconds on a CPU). `opening_workers` more threads take
opening pieces only: a new request starts at once, sharing the cores for the short
while its first piece takes.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from deployments.kokoro import metrics

OPENING = 0  # the priority of a request's first piece
Lane = Literal["any", "opening"]


class InferenceScheduler:
    def __init__(self, workers: int = 1, opening_workers: int = 0):
        self._executor = ThreadPoolExecutor(max_workers=workers + opening_workers, thread_name_prefix="kokoro-infer")
        self._idle: dict[Lane, int] = {"any": workers, "opening": opening_workers}
        self._pending: list[tuple[int, int, asyncio.Future, Callable[..., Any], tuple]] = []
        self._arrival = itertools.count()

    @property
    def queued(self) -> int:
        """Jobs waiting for a worker; a cancelled one stays in the heap until its turn, uncounted."""
        return sum(1 for _, _, future, _, _ in self._pending if not future.done())

    async def run(self, priority: int, function: Callable[..., Any], *args: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._pending, (priority, next(self._arrival), future, function, args))
        self._dispatch()
        metrics.report_queue_depth(self.queued)
        try:
            return await future  # cancelling this drops the job if it has not started
        finally:
            # Jobs start when others finish (dispatched before this resumes) or leave when cancelled.
            metrics.report_queue_depth(self.queued)

    def _free_lane(self, priority: int) -> Lane | None:
        """A general worker when one is idle (keeping the opening lane free for the next request)."""
        if self._idle["any"]:
            return "any"
        if priority == OPENING and self._idle["opening"]:
            return "opening"
        return None

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending and (lane := self._free_lane(self._pending[0][0])):
            _, _, future, function, args = heapq.heappop(self._pending)
            if future.done():
                continue
            self._idle[lane] -= 1
            work = loop.run_in_executor(self._executor, function, *args)
            work.add_done_callback(lambda done, future=future, lane=lane: self._finished(future, done, lane))

    def _finished(self, future: asyncio.Future, done: asyncio.Future, lane: Lane) -> None:
        self._idle[lane] += 1
        if not future.done():
            if done.exception() is not None:
                future.set_exception(done.exception())
            else:
                future.set_result(done.result())
        self._dispatch()
