"""Each job's own record in Redis, beside Celery's result.

Celery knows a task's result, but not whether an id was ever submitted (an unknown id reads
as PENDING), when it started, how far it got or that a client cancelled it. The record holds
exactly that: it is created by the gateway at submission, so a missing record means 404; it
expires with the result; consumers only ever update a record that exists.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis

_KEY = "chorus:job:{}"
# Consumers must not re-create a record that expired or was never made (it would never expire).
_UPDATE_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call(ARGV[1], KEYS[1], unpack(ARGV, 2))
end
return false
"""


@dataclass
class JobRecord:
    submitted_at: float
    started_at: float | None = None
    finished_at: float | None = None
    cancelled_at: float | None = None
    progress: dict | None = None
    redeliveries: int = 0  # times it was handed out again because its consumer was lost


class JobRecords:
    def __init__(self, redis_url: str, result_expiry_s: int, record_ttl_s: int):
        self._redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self._update = self._redis.register_script(_UPDATE_IF_EXISTS)
        self._result_expiry_s = result_expiry_s
        self._record_ttl_s = record_ttl_s

    def create(self, job_id: str) -> None:
        key = _KEY.format(job_id)
        self._redis.pipeline().hset(key, "submitted_at", time.time()).expire(key, self._record_ttl_s).execute()

    def delete(self, job_id: str) -> None:
        self._redis.delete(_KEY.format(job_id))

    def get(self, job_id: str) -> JobRecord | None:
        fields = self._redis.hgetall(_KEY.format(job_id))
        if not fields:
            return None
        times = {name: float(fields[name]) for name in ("started_at", "finished_at", "cancelled_at") if name in fields}
        progress = json.loads(fields["progress"]) if "progress" in fields else None
        return JobRecord(float(fields["submitted_at"]), progress=progress, redeliveries=int(fields.get("redeliveries", 0)),
                         **times)

    def start(self, job_id: str, redelivered: bool) -> bool:
        """Note the first start (a retried or redelivered job keeps it), and count a redelivery; False, and
        no start, if the job was cancelled."""
        if self.cancelled(job_id):
            return False
        self._stamp(job_id, "started_at")
        if redelivered:
            self._update(keys=[_KEY.format(job_id)], args=["HINCRBY", "redeliveries", 1])
        return True

    def cancelled(self, job_id: str) -> bool:
        return bool(self._redis.hexists(_KEY.format(job_id), "cancelled_at"))

    def set_progress(self, job_id: str, progress: dict) -> None:
        self._update(keys=[_KEY.format(job_id)], args=["HSET", "progress", json.dumps(progress)])

    def cancel(self, job_id: str) -> None:
        self._stamp(job_id, "cancelled_at")
        self._redis.expire(_KEY.format(job_id), self._result_expiry_s)

    def finish(self, job_id: str) -> None:
        self._stamp(job_id, "finished_at")

    def expire_with_result(self, job_id: str) -> None:
        """The job is final: from now on its record lives as long as Celery keeps its result."""
        self.finish(job_id)
        self._redis.expire(_KEY.format(job_id), self._result_expiry_s)

    def _stamp(self, job_id: str, field: str) -> None:
        self._update(keys=[_KEY.format(job_id)], args=["HSETNX", field, time.time()])
