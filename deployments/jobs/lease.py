"""A running job's hold on its queue message, renewed while the job runs.

Kombu's Redis transport keeps every delivered, unacknowledged message in a hash, and its delivery
time in a sorted set. Each consumer sweeps that set every `restore_interval_s` and puts back in the
queue the messages delivered more than `visibility_timeout_s` ago: that is how the job of a consumer
that died (its node lost, its replica killed) reaches another consumer. With a fixed delivery time,
the timeout would have to exceed the longest job, and a lost consumer's job would wait that long.
A running job instead moves its delivery time forward, so the timeout only needs to cover a few
missed renewals, and a lost job is handed out again within `visibility_timeout_s`.
"""

from __future__ import annotations

import time

import redis

# The sorted set of delivery times. Chorus names it in the transport options too
# (settings.task_processor_config), so that kombu and the lease use the same key.
UNACKED_INDEX_KEY = "unacked_index"
RENEWALS_PER_TIMEOUT = 4  # a renewal may be missed (a busy machine, a slow Redis) without losing the message


class DeliveryLease:
    def __init__(self, client: redis.Redis, delivery_tag: str, visibility_timeout_s: float):
        self._client = client
        self._delivery_tag = delivery_tag
        self._renew_every_s = visibility_timeout_s / RENEWALS_PER_TIMEOUT
        self._renew_after = 0.0

    def renew(self) -> None:
        """Move the delivery time to now, unless that was done less than a renewal interval ago.

        XX: a message already acknowledged, or already put back by a sweep, is not added again.
        """
        if time.monotonic() < self._renew_after:
            return
        self._client.zadd(UNACKED_INDEX_KEY, {self._delivery_tag: time.time()}, xx=True)
        self._renew_after = time.monotonic() + self._renew_every_s
