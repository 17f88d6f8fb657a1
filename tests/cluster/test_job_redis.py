"""The cluster's job queue lives in an external Redis: killing it and starting it again loses no queued job."""

from __future__ import annotations

from tests.helpers.errors import assert_error
from tests.helpers.jobs import poll, submit

TEXT = "The lighthouse keeper counted the ships that passed in the night."


def test_a_killed_redis_comes_back_with_every_queued_job(chorus):
    # More jobs than the consumers run at once (two, each with consumer_concurrency 2): most wait in the queue.
    submitted = [submit(chorus.http, {"operation": "tts", "mode": "basic", "text": TEXT}) for _ in range(10)]
    queued = sum(chorus.http.get(f"/status/{job_id}").json()["status"] == "IN_QUEUE" for job_id in submitted)
    chorus.redis.kill()
    # Down as the front end sees it (every connection to it is gone), rather than down for a fixed while.
    assert_error(chorus.http.get(f"/status/{submitted[0]}"), 503, None, "queue is unavailable", "queue_unavailable")
    chorus.redis.start()  # the same port and append-only file
    finals = [poll(chorus.http, job_id, 240, 0.5)[0] for job_id in submitted]
    print(f"\n{queued} of {len(submitted)} jobs were queued when Redis was killed; "
          f"{sum(f['status'] == 'COMPLETED' for f in finals)} completed after it restarted")
    assert queued >= 4
    assert [f["status"] for f in finals] == ["COMPLETED"] * len(submitted), finals
