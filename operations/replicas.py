"""How many replicas each engine deployment has, from the Serve controller, without calling the engine.

An engine that autoscales to zero (the embedded default's Chatterbox models and Conversion) must be
reported without waking it: a health call to a deployment at zero replicas would start one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Protocol

from ray import serve

logger = logging.getLogger(__name__)


class ReplicaCounts(Protocol):
    async def states(self, app: str, deployment: str) -> Counter[str] | None:
        """The deployment's replicas by state ("RUNNING", "STARTING", ...), empty when it has none; None when
        the counts cannot be read (the caller then asks the engine itself)."""


def replica_states(overview) -> Counter[str]:
    """A `serve.status()` deployment overview's replicas by state name, the states with none left out."""
    return Counter({str(getattr(state, "value", state)): count
                    for state, count in overview.replica_states.items() if count})


class ServeReplicaCounts:
    """The controller's counts (`serve.status()`), at most `max_age_s` old once read: the first question waits
    for a read; later ones get the last read while a fresh one is made, so /health never waits on the
    controller. One read at a time: `serve.status()` is costly (every application's details) and not safe
    to run in two threads at once (Ray 2.60 races on registering the autoscaling policy for pickling)."""

    def __init__(self, max_age_s: float = 5.0):
        self._max_age_s = max_age_s
        self._applications: dict | None = None
        self._read_at = 0.0
        self._reading: asyncio.Task | None = None

    async def states(self, app: str, deployment: str) -> Counter[str] | None:
        if self._applications is None:
            await asyncio.shield(self._read())
        elif time.monotonic() - self._read_at > self._max_age_s:
            self._read()
        if self._applications is None:
            return None
        application = self._applications.get(app)
        overview = application.deployments.get(deployment) if application is not None else None
        return None if overview is None else replica_states(overview)

    def _read(self) -> asyncio.Task:
        """The read in flight, or a new one."""
        if self._reading is None:
            self._reading = asyncio.create_task(self._read_status())
        return self._reading

    async def _read_status(self) -> None:
        try:
            self._applications = (await asyncio.to_thread(serve.status)).applications  # a blocking call
            self._read_at = time.monotonic()
        except Exception as error:  # noqa: BLE001 -- the counts stay as last read; health then asks the engines
            logger.warning("could not read the replica counts from the Serve controller: %r", error)
        finally:
            self._reading = None
