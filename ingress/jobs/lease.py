"""A live consumer's hold on the queue messages it has taken, renewed while it lives.

Kombu's Redis transport keeps every delivered, unacknowledged message in a hash, and its delivery
time in a sorted set. Each consumer sweeps that set every `restore_interval_s` and puts back in the
queue the messages delivered more than `visibility_timeout_s` ago: that is how the jobs of a consumer
that died (its node lost, its replica killed) reach another consumer. With fixed delivery times, the
timeout would have to exceed the longest job, and also the longest wait of a job that its consumer
holds for a free thread or for a retry's countdown; a lost consumer's jobs would wait that long.
Instead, each consumer moves the delivery time of every message it holds (running, waiting for a
thread, or waiting for a countdown) forward, several times per timeout. A message stops being
renewed only when its consumer is gone, and is handed out again within `visibility_timeout_s`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from celery.worker import state as worker_state

# The sorted set of delivery times. Chorus names it in the transport options too
# (settings.task_processor_config), so that kombu and the lease use the same key.
UNACKED_INDEX_KEY = "unacked_index"
RENEWALS_PER_TIMEOUT = 4  # renewals may be missed (a busy machine, a slow Redis) without losing a message

logger = logging.getLogger("ray.serve")


def held_by_this_worker() -> list[str]:
    """Delivery tags of every message this process's Celery worker holds: Celery's own registry of
    its scheduled (countdown), reserved and active requests, the one its `inspect` commands read."""
    return [request.message.delivery_tag for request in list(worker_state.requests.values())]


class ConsumerLease:
    def __init__(self, client: redis.Redis, visibility_timeout_s: float,
                 held: Callable[[], list[str]] = held_by_this_worker):
        self._client = client
        self._held = held
        self._renew_every_s = visibility_timeout_s / RENEWALS_PER_TIMEOUT

    def start(self) -> None:
        """Renew on a daemon thread for the life of the process (a consumer that dies stops renewing)."""
        threading.Thread(target=self._keep_renewing, name="job-lease", daemon=True).start()

    def renew(self) -> None:
        """Move the delivery time of every held message to now.

        XX: a message already acknowledged, or already put back by a sweep, is not added again.
        """
        tags = self._held()
        if tags:
            now = time.time()
            self._client.zadd(UNACKED_INDEX_KEY, dict.fromkeys(tags, now), xx=True)

    def _keep_renewing(self) -> None:
        while True:
            try:
                self.renew()
            except redis.RedisError as error:  # Redis away for a moment: the next renewal may reach it
                logger.warning("Could not renew the job queue's leases: %s", error)
            time.sleep(self._renew_every_s)
