"""How the gateway reads the replica counts: one controller read at a time, and never waiting on one once it
has counts. `serve.status` is replaced here by a counting stand-in; tests/served/test_scale_to_zero.py reads
the real controller."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from types import SimpleNamespace

from operations import replicas as replicas_module
from operations.replicas import ServeReplicaCounts


class Controller:
    """serve.status as the controller would answer: Turbo's replicas as last set; each read waits on `gate`."""

    def __init__(self):
        self.started = self.reads = 0
        self.turbo = {"RUNNING": 1}
        self.gate = threading.Event()
        self.gate.set()
        self.failing = False

    def status(self):
        self.started += 1
        self.gate.wait(5)
        self.reads += 1
        if self.failing:
            raise ConnectionError("controller gone")
        turbo = SimpleNamespace(replica_states=dict(self.turbo))
        return SimpleNamespace(applications={"chorus": SimpleNamespace(deployments={"ChatterboxTurbo": turbo})})


def test_questions_at_once_share_one_read_and_a_stale_count_is_answered_while_it_is_read_again(monkeypatch):
    controller = Controller()
    monkeypatch.setattr(replicas_module.serve, "status", controller.status)
    counts = ServeReplicaCounts(max_age_s=0)  # every count is stale at once: each question wants a fresh read

    async def scenario():
        first = await asyncio.gather(*(counts.states("chorus", "ChatterboxTurbo") for _ in range(5)))
        assert first == [Counter({"RUNNING": 1})] * 5 and controller.reads == 1

        controller.turbo = {}  # scaled to zero meanwhile
        controller.gate.clear()  # and the next read is slow
        stale = await asyncio.wait_for(counts.states("chorus", "ChatterboxTurbo"), 1)
        assert stale == Counter({"RUNNING": 1})  # answered from the last read, without waiting
        assert await counts.states("chorus", "ChatterboxTurbo") == Counter({"RUNNING": 1})
        while controller.started < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert (controller.started, controller.reads) == (2, 1)  # the second read is in flight; no third began
        controller.gate.set()
        while controller.reads < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert await counts.states("chorus", "ChatterboxTurbo") == Counter()
        assert await counts.states("chorus", "NoSuchDeployment") is None

    asyncio.run(scenario())


def test_counts_that_cannot_be_read_are_unknown(monkeypatch):
    controller = Controller()
    controller.failing = True
    monkeypatch.setattr(replicas_module.serve, "status", controller.status)
    assert asyncio.run(ServeReplicaCounts().states("chorus", "ChatterboxTurbo")) is None
