"""Runs inference jobs on a few worker threads, lowest priority value first.

Priority is a piece's position in its text, so the opening pieces of new requests go
ahead of the tails of long ones: every concurrent stream starts quickly and long texts
do not block short ones. The event loop stays free for health checks meanwhile.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from deployments.kokoro import metrics


class InferenceScheduler:
    def __init__(self, workers: int = 1):
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kokoro-infer")
        self._idle_workers = workers
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

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._idle_workers and self._pending:
            _, _, future, function, args = heapq.heappop(self._pending)
            if future.done():
                continue
            self._idle_workers -= 1
            work = loop.run_in_executor(self._executor, function, *args)
            work.add_done_callback(lambda done, future=future: self._finished(future, done))

    def _finished(self, future: asyncio.Future, done: asyncio.Future) -> None:
        self._idle_workers += 1
        if not future.done():
            if done.exception() is not None:
                future.set_exception(done.exception())
            else:
                future.set_result(done.result())
        self._dispatch()
