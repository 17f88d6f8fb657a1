"""The application builder named by serve_config.yaml: `import_path: ingress.app:build_app`."""

from __future__ import annotations

from ray.serve import Application

from deployments.chatterbox.deployment import ChatterboxDeployment
from deployments.conversion.deployment import ConversionDeployment
from deployments.jobs.deployment import job_worker
from deployments.jobs.redis_server import ensure_embedded_redis
from deployments.jobs.settings import JobsSettings
from deployments.kokoro.deployment import KokoroDeployment
from ingress.gateway import Gateway
from ingress.settings import AppArgs


def resolve_redis(jobs: JobsSettings) -> JobsSettings:
    """Settings naming the Redis to use: the configured one, else the cluster's embedded one (started if need be)."""
    url = jobs.configured_redis_url()
    if url is None:
        if not jobs.embedded_redis:
            raise ValueError(f"jobs: no Redis configured; set jobs.redis_url or ${jobs.redis_url_env}")
        url = ensure_embedded_redis(jobs.redis_data_dir)
    return jobs.model_copy(update={"redis_url": url})


def build_app(args: dict | None = None) -> Application:
    """Validate the config's `args` and bind the deployment graph."""
    config = AppArgs.model_validate(args or {})
    library = config.voice_library.model_dump(mode="json")
    kokoro = KokoroDeployment.bind(config.kokoro.model_dump(mode="json"))
    chatterbox = ChatterboxDeployment.bind(config.chatterbox.model_dump(mode="json"), library["root"])
    conversion = ConversionDeployment.bind(config.conversion.model_dump(mode="json"), library["root"])
    engines = {"kokoro": kokoro, "chatterbox": chatterbox, "conversion": conversion}
    gateway = config.gateway.model_dump(mode="json")
    if config.jobs is None:
        return Gateway.bind(engines, gateway, library)
    jobs = resolve_redis(config.jobs)
    worker = job_worker(jobs).bind(engines, jobs.model_dump(mode="json"), library)
    return Gateway.bind(engines, gateway, library, jobs.model_dump(mode="json"), worker)
