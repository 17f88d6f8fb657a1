"""Runs renders on a few worker threads, earliest deadline first.

A piece is due when its listener will need it: a stream's first piece at once, each later
piece when the audio before it has played (the stream's start plus the seconds already
rendered), every piece of a whole request at once. Opening pieces of new streams so go
ahead of the tails of long ones, and every stream starts quickly; yet a tail that has
waited long enough wins over newer openings, so no stream starves under steady load.
The event loop stays free for health checks meanwhile.

Deadlines alone cannot stop an opening piece from waiting for a worker that is busy with
another request's long piece (seconds on a CPU). `opening_workers` more threads take
opening pieces only: a new request starts at once, sharing the cores for the short while
its first piece takes.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from deployments.kokoro import metrics

Lane = Literal["any", "opening"]
PendingRender = tuple[float, int, asyncio.Future, Callable[..., Any], tuple]  # (due, arrival, ...)


class InferenceScheduler:
    def __init__(self, workers: int = 1, opening_workers: int = 0):
        self._workers = workers + opening_workers
        self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="kokoro-infer")
        self._idle: dict[Lane, int] = {"any": workers, "opening": opening_workers}
        # Two heaps, so that the opening lane finds the earliest opening without passing over other renders.
        self._openings: list[PendingRender] = []
        self._rest: list[PendingRender] = []
        self._arrival = itertools.count()

    @property
    def queued(self) -> int:
        """Renders waiting for a worker; a cancelled one stays in its heap until its turn, uncounted."""
        return sum(1 for heap in (self._openings, self._rest) for _, _, future, _, _ in heap if not future.done())

    @property
    def running(self) -> int:
        """Renders on a worker now, counted before each starts: a render reads it to know whether it runs alone."""
        return self._workers - sum(self._idle.values())

    async def run(self, due: float, function: Callable[..., Any], *args: Any, opening: bool = False) -> Any:
        """Run `function(*args)` on a worker; `due` is a time.monotonic() instant, `opening` marks a first piece."""
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._openings if opening else self._rest, (due, next(self._arrival), future, function, args))
        self._dispatch()
        metrics.report_queue_depth(self.queued)
        try:
            return await future  # cancelling this drops the render if it has not started
        finally:
            # Renders start when others finish (dispatched before this resumes) or leave when cancelled.
            metrics.report_queue_depth(self.queued)

    def _next_render(self) -> tuple[Lane, PendingRender] | None:
        """The earliest-due render for a general worker when one is idle (keeping the opening lane free for
        the next request), else the earliest opening for the opening lane."""
        if self._idle["any"]:
            heads = [heap for heap in (self._openings, self._rest) if heap]
            if heads:
                return "any", heapq.heappop(min(heads, key=lambda heap: heap[0][:2]))
        if self._idle["opening"] and self._openings:
            return "opening", heapq.heappop(self._openings)
        return None

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while picked := self._next_render():
            lane, (_, _, future, function, args) = picked
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
