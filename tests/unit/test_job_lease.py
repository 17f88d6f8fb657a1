"""A consumer's lease on the queue messages it holds, against a real redis-server and kombu's own sweep
of unacknowledged messages, configured with the transport options the job queue uses."""

from __future__ import annotations

import time

import kombu
import pytest
import redis

from ingress.jobs.lease import UNACKED_INDEX_KEY, ConsumerLease
from ingress.jobs.settings import JobsSettings, task_processor_config
from tests.helpers.job_redis import JobRedis

VISIBILITY_S = 1.0
QUEUE = "lease-test"


@pytest.fixture
def broker(tmp_path):
    server = JobRedis(tmp_path / "redis")
    server.start()
    yield server.url
    server.stop()


def waiting(broker: str) -> int:
    """Messages in the queue, waiting for a consumer (kombu's Redis transport keeps a queue as a list)."""
    return redis.Redis.from_url(broker).llen(QUEUE)


def sweep(queue) -> None:
    """One of the periodic sweeps every consumer runs: messages delivered too long ago go back to the queue."""
    queue.channel.qos.restore_visible(num=100, interval=1)


def test_a_leased_message_stays_with_its_consumer_until_the_lease_stops(broker):
    settings = JobsSettings(redis_url=broker, visibility_timeout_s=VISIBILITY_S)
    options = task_processor_config(settings, broker).adapter_config.broker_transport_options
    assert options["unacked_index_key"] == UNACKED_INDEX_KEY
    with kombu.Connection(broker, transport_options=options) as connection:
        queue = connection.SimpleQueue(QUEUE)
        queue.put({"job": "long"})
        message = queue.get(timeout=5)  # delivered, not acknowledged: a job its consumer holds
        lease = ConsumerLease(redis.Redis.from_url(broker), VISIBILITY_S, held=lambda: [message.delivery_tag])

        renewed_until = time.monotonic() + 3 * VISIBILITY_S
        while time.monotonic() < renewed_until:  # three timeouts long, renewed: never handed out again
            lease.renew()
            sweep(queue)
            assert waiting(broker) == 0
            time.sleep(VISIBILITY_S / 8)

        # Its consumer is gone: no more renewals, so a sweep puts it back once the timeout has passed.
        deadline = time.monotonic() + 10 * VISIBILITY_S
        sweep(queue)
        while waiting(broker) == 0:
            assert time.monotonic() < deadline, "the message nobody renews was never handed out again"
            time.sleep(VISIBILITY_S / 8)
            sweep(queue)
        assert waiting(broker) == 1
        again = queue.get(timeout=5)
        assert again.payload == {"job": "long"} and again.delivery_info["redelivered"]

        again.ack()  # done: a late renewal from the first consumer must not bring it back
        lease.renew()
        # Sweeps restore only what the index holds: with no entry for it, no sweep, now or after any
        # timeout, can hand it out again, so there is nothing to wait for.
        assert redis.Redis.from_url(broker).zscore(UNACKED_INDEX_KEY, again.delivery_tag) is None
        sweep(queue)
        assert waiting(broker) == 0
        queue.close()
