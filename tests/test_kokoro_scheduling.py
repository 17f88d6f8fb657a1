"""Concurrent Kokoro streams on the ONNX scheduler: the opening piece of every stream goes first.

The real deployment class (outside Serve) with its engine and priority scheduler; only its render
step is wrapped, to record the order in which pieces reach the workers.
"""

from __future__ import annotations

import asyncio

from deployments.kokoro.deployment import KokoroDeployment
from deployments.kokoro.protocol import KokoroRequest

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
