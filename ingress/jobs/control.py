"""What a running job checks and reports: its deadline, its cancellation, its progress."""

from __future__ import annotations

import time

from ingress.jobs.payloads import JobFailed
from ingress.jobs.records import JobRecords


class JobCancelled(Exception):
    """A client cancelled the job while it ran; its work stops at the next check."""


class JobControl:
    def __init__(self, job_id: str, records: JobRecords, max_job_s: float):
        self.job_id = job_id
        self._records = records
        self._max_job_s = max_job_s
        self._deadline = time.monotonic() + max_job_s

    def check(self) -> None:
        """Raise if the job must stop now."""
        if time.monotonic() > self._deadline:
            raise JobFailed(f"Job exceeded the time limit of {self._max_job_s:g} s")
        if self._records.cancelled(self.job_id):
            raise JobCancelled(self.job_id)

    def report(self, **progress) -> None:
        self._records.set_progress(self.job_id, progress)
