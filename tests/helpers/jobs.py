"""The RunPod-style job API from a client: submit, poll, run synchronously."""

from __future__ import annotations

import time

FINAL = ("COMPLETED", "FAILED", "CANCELLED")


def poll(client, job_id: str, timeout_s: float = 30, every_s: float = 0.1,
         until: tuple[str, ...] = ()) -> tuple[dict, list[dict]]:
    """The job's final status (or the first of `until` seen), and every status seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get(f"/status/{job_id}").json()
        seen.append(status)
        if status["status"] in (*FINAL, *until):
            return status, seen
        time.sleep(every_s)
    raise AssertionError(f"job {job_id} did not finish: {seen[-1]}")


def submit(client, job_input: dict) -> str:
    response = client.post("/run", json={"input": job_input})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "IN_QUEUE" and set(body) == {"id", "status"}
    return body["id"]


def run_sync(client, job_input: dict) -> dict:
    response = client.post("/runsync", json={"input": job_input})
    assert response.status_code == 200, response.text
    return response.json()


def run_to_end(client, job_input: dict) -> dict:
    """The job's final status, polled: S3Gen on random weights can outlast /runsync's wait on a busy CPU,
    and a job runsync gave up on would still hold a consumer when the next test starts."""
    status, _ = poll(client, submit(client, job_input), timeout_s=180, every_s=0.5)
    return status


class RecordedProgress:
    """A JobControl that keeps what the job reports (and never stops it)."""

    def __init__(self):
        self.reports: list[dict] = []

    def report(self, **progress) -> None:
        self.reports.append(progress)

    def check(self) -> None:
        pass
