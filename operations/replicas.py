"""How many replicas each engine deployment has, from the Serve controller, without calling the engine.

An engine that autoscales to zero (the embedded default's Chatterbox models and Conversion) must be
reported without waking it: a health call to a deployment at zero replicas would start one.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Protocol

from cachetools import TTLCache
from ray import serve


class ReplicaCounts(Protocol):
    async def states(self, app: str, deployment: str) -> Counter[str]:
        """The deployment's replicas by state ("RUNNING", "STARTING", ...); empty when it has none."""


class ServeReplicaCounts:
    """The controller's counts, read at most once per `ttl_s` for every deployment together (a /health poll
    then costs one controller call a second however often it is polled)."""

    def __init__(self, ttl_s: float = 1.0):
        self._status: TTLCache[str, dict] = TTLCache(maxsize=1, ttl=ttl_s)

    async def states(self, app: str, deployment: str) -> Counter[str]:
        applications = self._status.get("applications")
        if applications is None:
            applications = (await asyncio.to_thread(serve.status)).applications  # a blocking controller call
            self._status["applications"] = applications
        application = applications.get(app)
        overview = application.deployments.get(deployment) if application is not None else None
        if overview is None:
            return Counter()
        return Counter({str(getattr(state, "value", state)): count
                        for state, count in overview.replica_states.items() if count})
