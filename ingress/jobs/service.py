"""Serving logic of the job API: enqueue through Ray Serve's task processor adapter, read status.

A job's status combines its record (does it exist, did it start, was it cancelled, progress)
with Celery's result (output or failure). The adapter and Redis clients block, so every call
runs on a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from ray.serve.task_consumer import instantiate_adapter_from_config

from ingress.errors import APIError
from ingress.jobs.protocol import FINAL_STATUSES, JobStatusResponse
from ingress.jobs.records import JobRecord, JobRecords
from ingress.jobs.settings import TASK_NAME, JobsSettings, task_processor_config

logger = logging.getLogger("ray.serve")
MAX_ERROR_CHARS = 500


def _milliseconds(start: float | None, end: float | None) -> int | None:
    return None if start is None or end is None else max(0, round((end - start) * 1000))


def _failure_message(error: object) -> str:
    """A failed task's exception, as one readable line (remote tracebacks stay in the logs)."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first_line}"[:MAX_ERROR_CHARS]


class JobService:
    def __init__(self, settings: JobsSettings):
        self.settings = settings
        self._queue = instantiate_adapter_from_config(task_processor_config(settings, settings.redis_url))
        self._records = JobRecords(settings.redis_url, settings.result_expiry_s, settings.record_ttl_s)

    async def submit(self, job_input: dict) -> JobStatusResponse:
        job_id = str(uuid.uuid4())
        await self._call(self._enqueue, job_id, job_input)
        return JobStatusResponse(id=job_id, status="IN_QUEUE")

    async def status(self, job_id: str) -> JobStatusResponse:
        return await self._call(self._status, job_id)

    async def wait(self, job_id: str) -> JobStatusResponse:
        """The job's status once it is final, or when runsync_wait_s has passed."""
        deadline = time.monotonic() + self.settings.runsync_wait_s
        pause = 0.05
        while True:
            status = await self.status(job_id)
            remaining = deadline - time.monotonic()
            if status.status in FINAL_STATUSES or remaining <= 0:
                return status
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.5)

    async def cancel(self, job_id: str) -> JobStatusResponse:
        return await self._call(self._cancel, job_id)

    async def _call(self, method, *args):
        try:
            return await asyncio.to_thread(method, *args)
        except APIError:
            raise
        except Exception as error:
            logger.exception("The job queue failed")
            raise APIError(503, f"The job queue is unavailable: {type(error).__name__}", code="queue_unavailable",
                           headers={"Retry-After": "5"}) from error

    def _enqueue(self, job_id: str, job_input: dict) -> None:
        self._records.create(job_id)  # first, so the job exists before a consumer can pick it up
        try:
            self._queue.enqueue_task_sync(TASK_NAME, args=[job_id, job_input], task_id=job_id,
                                          expires=self.settings.queue_ttl_s)
        except Exception:
            self._records.delete(job_id)
            raise

    def _cancel(self, job_id: str) -> JobStatusResponse:
        current = self._status(job_id)
        if current.status in FINAL_STATUSES:
            return current
        self._records.cancel(job_id)  # a running job sees this at its next check and stops
        self._queue.cancel_task_sync(job_id)  # a queued one is dropped by the consumer that receives it
        return self._status(job_id)

    def _status(self, job_id: str) -> JobStatusResponse:
        record = self._records.get(job_id)
        if record is None:
            raise APIError(404, f"Job '{job_id}' not found: unknown id, or its result expired", param="id",
                           code="job_not_found")
        if record.cancelled_at is not None:
            return self._response(job_id, "CANCELLED", record, end=record.cancelled_at)
        task = self._queue.get_task_status_sync(job_id)
        if task.status in ("SUCCESS", "FAILURE", "REVOKED"):
            # The adapter reads the result before the state: a job that just finished can show its new
            # state with the old (empty) result. Final states do not change, so a second read is whole.
            task = self._queue.get_task_status_sync(job_id)
        if task.status == "SUCCESS":
            output = task.result if isinstance(task.result, dict) else {}
            if "error" in output:  # the operation refused the job (RunPod's convention)
                return self._response(job_id, "FAILED", record, error=str(output["error"]))
            return self._response(job_id, "COMPLETED", record, output=output)
        if task.status == "FAILURE":
            return self._response(job_id, "FAILED", record, error=_failure_message(task.result))
        if task.status == "REVOKED":  # not cancelled by a client: it waited past queue_ttl_s
            return self._response(job_id, "FAILED", record,
                                  error=f"Job expired: not started within {self.settings.queue_ttl_s} s")
        if record.started_at is not None:  # running, or waiting for a retry or a redelivery
            return self._response(job_id, "IN_PROGRESS", record, progress=record.progress)
        return self._response(job_id, "IN_QUEUE", record)

    @staticmethod
    def _response(job_id: str, status: str, record: JobRecord, end: float | None = None, **fields) -> JobStatusResponse:
        end = end or record.finished_at
        return JobStatusResponse(id=job_id, status=status, delayTime=_milliseconds(record.submitted_at, record.started_at),
                                 executionTime=_milliseconds(record.started_at, end), **fields)
