"""The loop in front of a batched model (T3's decode, S3Gen's passes): callers queue work and get futures;
one thread per replica takes what fits into the next batch and runs it, while more work queues up."""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from typing import Generic, TypeVar

Item = TypeVar("Item")
Taken = TypeVar("Taken")


class BatchLoop(Generic[Item, Taken]):
    """Subclasses set up their state, then call `_start()`; they choose the next batch under the lock
    (`_take`) and run it outside the lock (`_run`, which settles the futures of what it ran)."""

    thread_name = "batcher"

    def _start(self) -> None:
        self._waiting: deque[tuple[Item, Future]] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def submit(self, item: Item) -> Future:
        (future,) = self.submit_all([item])
        return future

    def submit_all(self, items: list[Item]) -> list[Future]:
        """Futures of several items queued at once, so that they can share a batch. Cancel one to drop it."""
        futures = [Future() for _ in items]
        with self._wake:
            if self._closed:
                raise RuntimeError(f"the {self.thread_name} is closed")
            self._waiting.extend(zip(items, futures))
            self._wake.notify()
        return futures

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    def _busy(self) -> bool:
        """Work in flight that needs the loop even with nothing waiting (T3's live streams)."""
        return False

    def _take(self) -> Taken:
        raise NotImplementedError

    def _run(self, taken: Taken) -> None:
        raise NotImplementedError

    def _abandon(self) -> None:
        """At close: drop the work in flight (what is waiting is cancelled by the loop)."""

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._closed and not self._waiting and not self._busy():
                    self._wake.wait()
                if self._closed:
                    break
                taken = self._take()
            self._run(taken)
        for _, future in self._waiting:
            future.cancel()
        self._abandon()
