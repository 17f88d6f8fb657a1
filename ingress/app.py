"""The application builder named by serve_config.yaml: `import_path: ingress.app:build_app`."""

from __future__ import annotations

import logging

from ray.serve import Application

from deployments.chatterbox.deployment import DEPLOYMENT_NAMES, ChatterboxDeployment
from deployments.conversion.deployment import ConversionDeployment
from deployments.kokoro.deployment import KokoroDeployment
from ingress.gateway import Gateway
from ingress.jobs.redis_server import ensure_embedded_redis
from ingress.jobs.settings import JobsSettings
from ingress.jobs.worker import job_worker
from ingress.settings import AppArgs

logger = logging.getLogger("ray.serve")


def resolve_redis(jobs: JobsSettings) -> JobsSettings:
    """Settings naming the Redis to use: the configured one, or else the cluster's embedded one.

    Side effect, on purpose and only here: with no Redis configured and `jobs.embedded_redis` on (the
    local default), this starts the embedded redis-server (a detached Ray actor) unless it runs already,
    so that the queue exists before the gateway and the consumers that use it.
    """
    url = jobs.configured_redis_url()
    if url is None:
        if not jobs.embedded_redis:
            raise ValueError(f"jobs: no Redis configured; set jobs.redis_url or ${jobs.redis_url_env}")
        url = ensure_embedded_redis(jobs.redis_data_dir)
        logger.info("Jobs use the embedded Redis (append-only file in %s)", jobs.redis_data_dir)
    return jobs.model_copy(update={"redis_url": url})


def build_app(args: dict | None = None) -> Application:
    """Validate the config's `args` once and bind the deployment graph with the validated settings."""
    config = AppArgs.model_validate(args or {})
    library = config.voice_library
    kokoro = KokoroDeployment.bind(config.kokoro)
    # One deployment per Chatterbox model, each under its own name so that each scales on its own.
    chatterbox = {model: ChatterboxDeployment.options(name=DEPLOYMENT_NAMES[model]).bind(settings, library.root)
                  for model, settings in config.chatterbox_sections().items()}
    conversion = ConversionDeployment.bind(config.conversion, library.root)
    engines = {"kokoro": kokoro, **chatterbox, "conversion": conversion}
    if config.jobs is None:
        return Gateway.bind(engines, config.gateway, library)
    jobs = resolve_redis(config.jobs)
    worker = job_worker(jobs).bind(engines, jobs, library)
    return Gateway.bind(engines, config.gateway, library, jobs, worker)
