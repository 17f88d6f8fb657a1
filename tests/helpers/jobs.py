"""The RunPod-style job API from a client (submit, poll, run synchronously), and the job routes in process."""

from __future__ import annotations

import time
import uuid

from fastapi.testclient import TestClient

from ingress.errors import APIError
from ingress.gateway import create_api
from ingress.jobs.dialect import JobDialect
from ingress.jobs.payloads import JobFailed
from ingress.jobs.protocol import JobStatusResponse
from ingress.jobs.settings import JobsSettings
from stores.voice_library.settings import VoiceLibrarySettings
from tests.helpers.gateway import Served

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


class InProcessJobs:
    """The job routes' service without Redis or Celery: a job runs at once, on the gateway's own operations core,
    through the JobDialect a JobWorker runs it with (a refusal is FAILED with its message, as the worker has it)."""

    def __init__(self, gateway: Served, settings: JobsSettings | None = None):
        self.dialect = JobDialect(gateway.app.state.operations, settings or JobsSettings())
        self.finished: dict[str, JobStatusResponse] = {}

    async def submit(self, job_input: dict) -> JobStatusResponse:
        job_id = str(uuid.uuid4())
        try:
            output = await self.dialect.run(job_input, RecordedProgress())
            self.finished[job_id] = JobStatusResponse(id=job_id, status="COMPLETED", output=output)
        except JobFailed as failure:
            self.finished[job_id] = JobStatusResponse(id=job_id, status="FAILED", error=str(failure))
        return JobStatusResponse(id=job_id, status="IN_QUEUE")

    async def status(self, job_id: str) -> JobStatusResponse:
        if job_id not in self.finished:
            raise APIError(404, f"Job '{job_id}' not found", param="id", code="job_not_found")
        return self.finished[job_id]

    wait = status  # every job is final once submitted


def job_routes(gateway: Served) -> TestClient:
    """A client of `gateway`'s app built again with the job routes: jobs run on the same fakes and voice library."""
    state = gateway.app.state
    app = create_api(state.settings, state.operations, VoiceLibrarySettings(root=gateway.library), state.keys,
                     jobs=InProcessJobs(gateway))
    return TestClient(app, raise_server_exceptions=False)
