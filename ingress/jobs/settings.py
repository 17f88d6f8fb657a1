"""Configuration of asynchronous jobs (the serve config's `args.jobs`) and the Celery setup it implies."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from ray.serve.schema import CeleryAdapterConfig, TaskProcessorConfig

from ground import paths
from ingress.jobs.lease import UNACKED_INDEX_KEY

TASK_NAME = "chorus.job"
AUTOSCALING_POLICY = "ray.serve.async_inference_autoscaling_policy:AsyncInferenceAutoscalingPolicy"


class ConsumerAutoscaling(BaseModel):
    """Scale JobWorker replicas on the number of jobs waiting in the queue."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(1, ge=0, description="Fewest consumer replicas (0 lets the queue scale them to zero).")
    max_replicas: int = Field(4, ge=1, description="Most consumer replicas.")
    target_queued_jobs: float = Field(4, gt=0, description="Waiting jobs per replica the autoscaler aims for.")
    poll_interval_s: float = Field(10, gt=0, description="How often the controller reads the queue length.")
    upscale_delay_s: float = Field(10, ge=0, description="Backlog must last this long before adding replicas.")
    downscale_delay_s: float = Field(300, ge=0, description="Idle time before removing replicas.")


class JobsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    redis_url: str | None = Field(None, description="External Redis (broker and result backend). Unset: "
                                  "$REDIS_URL (see redis_url_env), else the embedded Redis is started.")
    redis_url_env: str = Field("REDIS_URL", description="Environment variable read when redis_url is unset.")
    embedded_redis: bool = Field(True, description="Start a Redis on this machine when none is configured "
                                 "(one machine only: it listens on 127.0.0.1). Off in a cluster.")
    redis_data_dir: Path = Field(Path("data/redis"), validate_default=True, description="Append-only file of "
                                 "the embedded Redis (relative paths are from the data root).")
    queue_name: str = Field("chorus-jobs", min_length=1, description="Queue the gateway fills and consumers drain; "
                            "one per application sharing a Redis.")
    failed_queue_name: str = Field("chorus-jobs-failed", min_length=1,
                                   description="Dead-letter queue for jobs that still fail after max_retries.")
    unprocessable_queue_name: str = Field("chorus-jobs-unprocessable", min_length=1,
                                          description="Dead-letter queue for messages no handler can take.")
    max_retries: int = Field(3, ge=0, description="Retries (with backoff) after an engine failure; invalid input "
                             "fails at once.")
    max_job_s: float = Field(600, gt=0, description="Longest a job may run; it fails past that.")
    engine_call_s: float = Field(300, gt=0, description="Longest one engine call of a job may take (a synthesis, a "
                                 "stream's next chunk, a conversion); past it the call is abandoned and the job "
                                 "retried, so a call stuck on a replica that went away never holds a job for "
                                 "max_job_s.")
    visibility_timeout_s: float = Field(120, gt=0, description="A job whose consumer is gone (its node lost, its "
                                        "replica killed) is handed out again after this long. A live consumer renews "
                                        "its hold on the jobs it has taken (ingress/jobs/lease.py), so this does "
                                        "not limit how long a job may run or wait in its consumer.")
    restore_interval_s: float = Field(10, gt=0, description="How often consumers look for such abandoned jobs.")
    result_expiry_s: int = Field(1800, ge=1, description="Results (and the job's status) are kept this long.")
    queue_ttl_s: int = Field(86_400, ge=1, description="A job not started within this long is dropped as expired.")
    runsync_wait_s: float = Field(60, ge=0, description="How long POST /runsync waits before answering with the "
                                  "job's current status.")
    max_text_chars: int = Field(5000, ge=1, description="Longest `text` of a tts job.")
    max_conversion_input_s: float = Field(300, gt=0, description="Longest `input_audio` of a voice_conversion or "
                                          "voice_transfer job (converted in pieces when long).")
    consumer_concurrency: int = Field(2, ge=1, description="Jobs one JobWorker replica runs at once.")
    consumer_replicas: int = Field(1, ge=0, description="JobWorker replicas when `autoscaling` is unset.")
    consumer_num_cpus: float = Field(0.1, ge=0, description="CPUs reserved per JobWorker (it mostly waits on engines).")
    autoscaling: ConsumerAutoscaling | None = Field(None, description="Scale consumers on the queue length.")

    @field_validator("redis_data_dir")
    @classmethod
    def _relative_to_data_root(cls, path: Path) -> Path:
        return paths.resolve(path)

    def configured_redis_url(self) -> str | None:
        """The external Redis, if one is configured; None means the embedded one."""
        return self.redis_url or os.environ.get(self.redis_url_env) or None

    @property
    def record_ttl_s(self) -> int:
        """How long a job can exist at most: waiting, running, then keeping its result."""
        return int(self.queue_ttl_s + self.max_job_s + self.result_expiry_s)


def task_processor_config(settings: JobsSettings, redis_url: str) -> TaskProcessorConfig:
    """The Celery adapter's configuration, the same for the gateway (producer) and the consumers."""
    return TaskProcessorConfig(
        queue_name=settings.queue_name,
        max_retries=settings.max_retries,
        failed_task_queue_name=settings.failed_queue_name,
        unprocessable_task_queue_name=settings.unprocessable_queue_name,
        adapter_config=CeleryAdapterConfig(
            broker_url=redis_url,
            backend_url=redis_url,
            broker_transport_options={
                "visibility_timeout": settings.visibility_timeout_s,
                "unacked_index_key": UNACKED_INDEX_KEY,  # the key each consumer's lease renews
                "unacked_restore_interval": settings.restore_interval_s,
                "unacked_restore_throttle": 1,  # every sweep scans, so restore_interval_s alone sets the pace
            },
            app_custom_config={
                "result_expires": settings.result_expiry_s,
                # One message per free thread: waiting jobs stay in Redis, where an idle replica (or the
                # autoscaler's queue length) sees them, instead of sitting unacked in a busy consumer.
                "worker_prefetch_multiplier": 1,
                # The worker runs on a thread inside a Serve replica: leave Ray's logging and stdio alone.
                "worker_hijack_root_logger": False,
                "worker_redirect_stdouts": False,
                "broker_connection_retry_on_startup": True,
            },
        ),
    )


def autoscaling_config(settings: JobsSettings, redis_url: str) -> dict | None:
    """Serve autoscaling on the queue length (Ray's AsyncInferenceAutoscalingPolicy), or None."""
    scaling = settings.autoscaling
    if scaling is None:
        return None
    return {
        "min_replicas": scaling.min_replicas,
        "max_replicas": scaling.max_replicas,
        "target_ongoing_requests": scaling.target_queued_jobs,
        "upscale_delay_s": scaling.upscale_delay_s,
        "downscale_delay_s": scaling.downscale_delay_s,
        "policy": {
            "policy_function": AUTOSCALING_POLICY,
            "policy_kwargs": {"broker_url": redis_url, "queue_name": settings.queue_name,
                              "poll_interval_s": scaling.poll_interval_s},
        },
    }
