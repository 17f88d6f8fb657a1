"""The JobWorker deployment: a Ray Serve task consumer that runs queued jobs on the engines.

The Celery adapter's configuration (Redis URL, queue, retries, dead-letter queues) is fixed
when the class is decorated, so `job_worker` decorates it in the builder from the serve
config. Handlers are plain methods: the adapter runs them on its own worker threads, and each
hands its job to the one event loop this replica keeps for the operations core, which is async.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import redis
from celery import current_task
from celery.signals import task_postrun
from ray import serve
from ray.serve.deployment import Deployment
from ray.serve.handle import DeploymentHandle
from ray.serve.task_consumer import task_consumer, task_handler

from ingress.jobs.control import JobCancelled, JobControl
from ingress.jobs.dialect import JobDialect
from ingress.jobs.lease import ConsumerLease
from ingress.jobs.payloads import JobFailed
from ingress.jobs.records import JobRecords
from ingress.jobs.settings import TASK_NAME, JobsSettings, autoscaling_config, task_processor_config
from operations.core import Operations
from stores.voice_library.settings import VoiceLibrarySettings

CHECK_INTERVAL_S = 0.5  # how often a running job looks for its cancellation and its deadline

logger = logging.getLogger("ray.serve")


class JobWorker:
    def __init__(self, engines: dict[str, DeploymentHandle], settings: JobsSettings, library: VoiceLibrarySettings):
        """`engines`: the kokoro, chatterbox and conversion handles, as the Gateway gets them."""
        self.settings = settings
        self.records = JobRecords(settings.redis_url, settings.result_expiry_s, settings.record_ttl_s)
        # Keeps every job this consumer holds from being handed to another while it lives.
        ConsumerLease(redis.Redis.from_url(settings.redis_url), settings.visibility_timeout_s).start()
        # A job may run up to max_job_s (its own deadline stops it); each engine call, up to engine_call_s.
        self.dialect = JobDialect(Operations.from_handles(engines, library, settings.engine_call_s), settings)
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="job-operations", daemon=True).start()
        # Once Celery has stored a final result (not a retry), the record expires with it.
        task_postrun.connect(self._task_done, weak=False)

    @task_handler(name=TASK_NAME)
    def run_job(self, job_id: str, job_input: dict) -> dict | None:
        """Returns the job's output, or {"error": ...} for a job that cannot be done (as RunPod handlers do).

        Engine failures raise instead, so Celery retries them and, past max_retries, moves the job
        to the dead-letter queue.
        """
        redelivered = bool(current_task.request.delivery_info.get("redelivered"))
        if not self.records.start(job_id, redelivered):
            return None  # cancelled while it waited
        if redelivered:
            logger.warning("Job %s was handed out again: the consumer that had it went away", job_id)
        try:
            control = JobControl(job_id, self.records, self.settings.max_job_s)
            output = asyncio.run_coroutine_threadsafe(self._run(job_input, control), self._loop).result()
        except JobFailed as failure:
            output = {"error": str(failure)}
        except JobCancelled:
            logger.info("Job %s was cancelled while running", job_id)
            output = None
        self.records.finish(job_id)  # before Celery stores the output, so a final status always has its times
        return output

    async def _run(self, job_input: dict, control: JobControl) -> dict:
        """The job, stopped (with its engine calls cancelled) as soon as it is cancelled or overdue."""
        job = asyncio.ensure_future(self.dialect.run(job_input, control))
        try:
            while not (await asyncio.wait({job}, timeout=CHECK_INTERVAL_S))[0]:
                await asyncio.to_thread(control.check)
        finally:
            job.cancel()  # a no-op once it is done
        return job.result()

    def _task_done(self, task_id: str | None = None, state: str | None = None, **_) -> None:
        if state in ("SUCCESS", "FAILURE"):
            self.records.expire_with_result(task_id)


def job_worker(settings: JobsSettings) -> Deployment:
    """The JobWorker deployment for these settings (`settings.redis_url` resolved)."""
    consumer = task_consumer(task_processor_config=task_processor_config(settings, settings.redis_url))(JobWorker)
    scaling = autoscaling_config(settings, settings.redis_url)
    options = {"autoscaling_config": scaling} if scaling else {"num_replicas": settings.consumer_replicas}
    # max_ongoing_requests is also the adapter's number of worker threads: jobs run at once per replica.
    return serve.deployment(name="JobWorker", max_ongoing_requests=settings.consumer_concurrency,
                            ray_actor_options={"num_cpus": settings.consumer_num_cpus}, **options)(consumer)
