"""The JobWorker deployment: a Ray Serve task consumer that runs queued jobs on the engines.

The Celery adapter's configuration (Redis URL, queue, retries, dead-letter queues) is fixed
when the class is decorated, so `job_worker` decorates it in the builder from the serve
config. Handlers are plain methods: the adapter runs them on its own worker threads.
"""

from __future__ import annotations

import logging

from celery.signals import task_postrun
from ray import serve
from ray.serve.deployment import Deployment
from ray.serve.handle import DeploymentHandle
from ray.serve.task_consumer import task_consumer, task_handler

from deployments.jobs.control import JobCancelled, JobControl
from deployments.jobs.engines import ChatterboxCalls, ConversionCalls, KokoroCalls
from deployments.jobs.operations import Operations
from deployments.jobs.protocol import JobFailed
from deployments.jobs.records import JobRecords
from deployments.jobs.settings import TASK_NAME, JobsSettings, autoscaling_config, task_processor_config
from deployments.voice_library.settings import VoiceLibrarySettings

logger = logging.getLogger("ray.serve")


class JobWorker:
    def __init__(self, engines: dict[str, DeploymentHandle], settings: dict | JobsSettings,
                 library: dict | VoiceLibrarySettings | None = None):
        """`engines`: the kokoro, chatterbox and conversion handles, as the Gateway gets them."""
        self.settings = JobsSettings.model_validate(settings)
        self.records = JobRecords(self.settings.redis_url, self.settings.result_expiry_s, self.settings.record_ttl_s)
        self.operations = Operations(KokoroCalls(engines["kokoro"]), ChatterboxCalls(engines["chatterbox"]),
                                     ConversionCalls(engines["conversion"]),
                                     VoiceLibrarySettings.model_validate(library or {}), self.settings)
        # Once Celery has stored a final result (not a retry), the record expires with it.
        task_postrun.connect(self._task_done, weak=False)

    @task_handler(name=TASK_NAME)
    def run_job(self, job_id: str, job_input: dict) -> dict | None:
        """Returns the job's output, or {"error": ...} for a job that cannot be done (as RunPod handlers do).

        Engine failures raise instead, so Celery retries them and, past max_retries, moves the job
        to the dead-letter queue.
        """
        if not self.records.start(job_id):
            return None  # cancelled while it waited
        try:
            output = self.operations.run(job_input, JobControl(job_id, self.records, self.settings.max_job_s))
        except JobFailed as failure:
            output = {"error": str(failure)}
        except JobCancelled:
            logger.info("Job %s was cancelled while running", job_id)
            output = None
        self.records.finish(job_id)  # before Celery stores the output, so a final status always has its times
        return output

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
