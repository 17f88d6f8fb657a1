"""The gateway deployment: one FastAPI app that owns HTTP for every engine."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.jobs.settings import JobsSettings
from ingress.auth import BearerKeys
from ingress.engines import KokoroClient
from ingress.errors import install_error_handlers
from ingress.guards import AdmissionLimit, BearerAuth, BodySizeLimit
from ingress.jobs.router import router as jobs_router
from ingress.jobs.service import JobService
from ingress.settings import GatewaySettings
from ingress.simple.router import router as simple_router
from ingress.speech.router import router as speech_router
from ingress.speech.service import SpeechService
from ingress.system.router import router as system_router

logger = logging.getLogger("ray.serve")


def create_api(settings: GatewaySettings, kokoro: KokoroClient, keys: BearerKeys,
               jobs: JobService | None = None) -> FastAPI:
    api = FastAPI(title="Chorus", version="0.1.0",
                  description="Text-to-speech on Ray Serve: OpenAI speech, the simple /synthesize API, and more.")
    install_error_handlers(api)
    api.state.settings = settings
    api.state.kokoro = kokoro
    api.state.speech = SpeechService(kokoro, settings)
    for router in (system_router, speech_router, simple_router):
        api.include_router(router)
    if jobs is not None:
        api.state.jobs = jobs
        api.include_router(jobs_router)
    # Added last runs first: authenticate, then bound the body, then admit.
    api.add_middleware(AdmissionLimit, limit=settings.max_concurrent_requests, retry_after_s=settings.retry_after_s)
    api.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    api.add_middleware(BearerAuth, keys=keys)
    return api


@serve.deployment(name="Gateway", ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=64)
@serve.ingress()
class Gateway:
    def __init__(self, kokoro: DeploymentHandle, settings: dict | GatewaySettings,
                 jobs: dict | JobsSettings | None = None, job_worker: DeploymentHandle | None = None):
        """`job_worker` is not called: binding it here makes Serve deploy the consumers with this application."""
        self.settings = GatewaySettings.model_validate(settings)
        self.kokoro = KokoroClient(kokoro, self.settings.request_timeout_s)
        self.jobs = JobService(JobsSettings.model_validate(jobs)) if jobs is not None else None
        self.keys = BearerKeys.from_settings(self.settings.api_key_hashes, self.settings.api_key_hashes_env)
        if self.keys.enabled:
            logger.info("API key authentication is on: every route but /health needs a bearer key")
        elif self.settings.require_auth:
            raise RuntimeError(f"require_auth is set but no API key digests were configured "
                               f"(gateway.api_key_hashes or ${self.settings.api_key_hashes_env})")
        else:
            logger.warning("API key authentication is OFF (require_auth: false): anyone who can reach "
                           "this port can use it. Fine on 127.0.0.1; configure keys anywhere else.")

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Ray Serve calls this on each replica after __init__: the API gets this replica's clients."""
        return create_api(self.settings, self.kokoro, self.keys, self.jobs)
