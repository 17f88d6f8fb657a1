"""Concurrent Kokoro streams on the ONNX scheduler: the opening piece of every stream goes first,
starts even while every general worker is busy, and no tail starves behind newer openings.

The real deployment class (outside Serve) with its engine and deadline scheduler; only its render
step is wrapped, to record the order in which pieces reach the workers.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from deployments.kokoro.deployment import KokoroDeployment
from deployments.kokoro.protocol import KokoroRequest
from deployments.kokoro.scheduler import InferenceScheduler

NAMES = ("Alpha", "Bravo", "Charlie", "Delta")


def test_four_streams_started_together_each_render_their_first_piece_before_any_third():
    kokoro = KokoroDeployment.func_or_class({"backend": "onnx", "intra_op_threads": 1, "inference_workers": 2})
    order: list[tuple[str, int]] = []
    render = kokoro._render

    def recording(planned):
        order.append((planned.text.split()[0], planned.index))
        return render(planned)

    kokoro._render = recording

    async def listen(name: str) -> int:
        text = f"{name} is the first. {name} comes second. {name} is third. {name} is last of all."
        return len([chunk async for chunk in kokoro.stream(KokoroRequest(text=text, voice="jm_kumo"))])

    async def together() -> list[int]:
        return await asyncio.gather(*(listen(name) for name in NAMES))

    assert all(pieces >= 4 for pieces in asyncio.run(together()))
    firsts = [order.index((name, 0)) for name in NAMES]
    thirds = [position for position, (_, index) in enumerate(order) if index >= 2]
    assert max(firsts) < min(thirds), order


class HeldPieces:
    """A render step for the scheduler that records the order pieces start in and holds one piece on
    its worker until released, so that the test decides what is busy while others queue."""

    def __init__(self, held: str):
        self.held = held
        self.started: list[str] = []
        self._released = threading.Event()

    def render(self, name: str) -> str:
        self.started.append(name)
        if name == self.held:
            assert self._released.wait(10)
        return name

    def release(self) -> None:
        self._released.set()


def test_an_opening_piece_starts_while_every_worker_is_busy_with_a_long_one_and_nothing_else_does():
    scheduler = InferenceScheduler(workers=1, opening_workers=1)
    pieces = HeldPieces(held="long tail")
    piece, started = pieces.render, pieces.started

    async def scenario() -> list[str]:
        tail = asyncio.ensure_future(scheduler.run(0.0, piece, "long tail"))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(scheduler.run(1.0, piece, "second piece"))
        opening = await asyncio.wait_for(scheduler.run(2.0, piece, "opening", opening=True), 5)
        await asyncio.sleep(0.05)
        assert started == ["long tail", "opening"]  # the second piece waits for the general worker
        assert scheduler.queued == 1
        pieces.release()
        return [await tail, opening, await second]

    assert asyncio.run(scenario()) == ["long tail", "opening", "second piece"]
    assert started == ["long tail", "opening", "second piece"]


def test_pieces_run_by_deadline_so_a_waiting_tail_goes_before_newer_openings():
    """Under steady load new streams keep arriving; ordering by position in the text alone would starve
    the tails of the streams already playing (a 120 s chunk timeout was hit that way with 8 clients)."""
    scheduler = InferenceScheduler(workers=1, opening_workers=0)
    pieces = HeldPieces(held="busy")
    piece, started = pieces.render, pieces.started

    async def scenario() -> None:
        busy = asyncio.ensure_future(scheduler.run(0.0, piece, "busy"))
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(scheduler.run(due, piece, name, opening=opening)) for due, name, opening in
                  [(5.0, "tail due at 5", False), (9.0, "opening due at 9", True), (1.0, "opening due at 1", True),
                   (7.0, "tail due at 7", False)]]
        await asyncio.sleep(0.05)
        pieces.release()
        await asyncio.gather(busy, *queued)

    asyncio.run(scenario())
    assert started == ["busy", "opening due at 1", "tail due at 5", "tail due at 7", "opening due at 9"]


def test_renders_side_by_side_take_the_one_thread_session_and_a_render_alone_takes_both_cores():
    """Two one-thread passes get more done on two cores than two that split both cores between them
    (bench/results/kokoro_cpu.md, 8 streams started together), while one render alone keeps every thread."""
    kokoro = KokoroDeployment.func_or_class(
        {"backend": "onnx", "intra_op_threads": 2, "shared_intra_op_threads": 1, "opening_workers": 1})
    backend = kokoro.engine.backend
    calls: list[bool] = []
    infer = backend.infer

    def recording(token_ids, style, speed, cores_shared=False):
        calls.append(cores_shared)
        return infer(token_ids, style, speed, cores_shared)

    backend.infer = recording

    async def listen(name: str) -> int:
        text = f"{name} speaks first. {name} speaks second. {name} speaks last."
        return len([chunk async for chunk in kokoro.stream(KokoroRequest(text=text, voice="jm_kumo"))])

    async def together() -> list[int]:
        return await asyncio.gather(*(listen(name) for name in NAMES[:2]))

    assert asyncio.run(listen("Alpha")) >= 3
    assert calls and not any(calls), calls  # one stream renders one piece at a time
    calls.clear()
    assert all(pieces >= 3 for pieces in asyncio.run(together()))
    assert any(calls), calls  # the two openings at least ran side by side

    # The two sessions are the same model: a piece sounds the same on either.
    planned = next(iter(kokoro.engine.plan(KokoroRequest(text="The same piece on either session.", voice="jm_kumo"))))
    alone, shared = (infer(planned.token_ids, planned.style, planned.speed, flag) for flag in (False, True))
    assert alone.shape == shared.shape
    assert np.corrcoef(alone, shared)[0, 1] > 0.999
