"""The gateway deployment: one FastAPI app that owns HTTP for every engine."""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from ray import serve
from ray.serve.handle import DeploymentHandle

from ingress.auth import BearerKeys
from ingress.conversions.router import router as conversions_router
from ingress.errors import document_errors, install_error_handlers
from ingress.guards import Admission, AdmissionLimit, BearerAuth, BodySizeLimit
from ingress.jobs.router import router as jobs_router
from ingress.jobs.service import JobService
from ingress.jobs.settings import JobsSettings
from ingress.openapi import document_text_limits
from ingress.proxy_guard import PROXY_CALLBACK, PROXY_CALLBACK_ENV
from ingress.realtime.router import router as realtime_router
from ingress.realtime.service import StreamInputService
from ingress.settings import GatewaySettings
from ingress.simple.router import router as simple_router
from ingress.simple.service import SimpleService
from ingress.speech.router import router as speech_router
from ingress.speech.service import SpeechService
from ingress.system.router import router as system_router
from ingress.voices.router import router as voices_router
from ingress.web.docs import router as docs_router
from ingress.web.router import router as web_router
from operations.core import Operations
from operations.replicas import ServeReplicaCounts
from stores.voice_library.settings import VoiceLibrarySettings

logger = logging.getLogger("ray.serve")


# Routes whose bodies may carry audio (base64 or multipart) get the larger upload limit.
UPLOAD_PATHS = ("/v1/voices", "/v1/audio/speech", "/v1/audio/conversions", "/run", "/runsync")


def upload_body_limit(library: VoiceLibrarySettings) -> int:
    """Room for the largest allowed clip as base64 (4 bytes per 3), plus the other fields."""
    return -(-library.max_upload_bytes // 3) * 4 + (64 << 10)


def create_api(settings: GatewaySettings, operations: Operations, library_settings: VoiceLibrarySettings,
               keys: BearerKeys, jobs: JobService | None = None) -> FastAPI:
    """The gateway's FastAPI app over the operations core; also what the in-process tests serve."""
    # docs_url and redoc_url off: FastAPI's pages load their scripts from a CDN; ingress.web.docs serves /docs offline.
    api = FastAPI(title="Chorus", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Text-to-speech on Ray Serve: OpenAI speech, the simple /synthesize API, and more.")
    install_error_handlers(api)
    document_errors(api)
    document_text_limits(api, settings)
    api.state.settings = settings
    api.state.keys = keys
    api.state.operations = operations
    # One wiring for every surface: its service lives in app.state, its router reads it through a dependency.
    api.state.speech = SpeechService(operations, settings)
    api.state.simple = SimpleService(operations, settings)
    admission = Admission(settings.max_concurrent_requests, settings.per_client_limit(), settings.max_websockets,
                          settings.retry_after_s)
    api.state.admission = admission
    api.state.stream_input = StreamInputService(operations, settings, keys, admission)
    for router in (system_router, speech_router, simple_router, voices_router, conversions_router, web_router,
                   docs_router, realtime_router):
        api.include_router(router)
    if jobs is not None:
        api.state.jobs = jobs
        api.include_router(jobs_router)
    # Added last runs first: answer CORS (preflights carry no key), authenticate, bound the body, admit.
    api.add_middleware(AdmissionLimit, admission=admission, stall_timeout_s=settings.stall_timeout_s)
    api.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       upload_max_bytes=max(settings.max_body_bytes, upload_body_limit(library_settings)),
                       upload_paths=UPLOAD_PATHS)
    api.add_middleware(BearerAuth, keys=keys)
    if settings.cors_allowed_origins or settings.cors_allowed_origin_regex:
        api.add_middleware(CORSMiddleware, allow_origins=settings.cors_allowed_origins,
                           allow_origin_regex=settings.cors_allowed_origin_regex, allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["*"], max_age=600)
    return api


@serve.deployment(name="Gateway", ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=64)
@serve.ingress()
class Gateway:
    def __init__(self, engines: dict[str, DeploymentHandle], settings: GatewaySettings,
                 library: VoiceLibrarySettings, jobs: JobsSettings | None = None,
                 job_worker: DeploymentHandle | None = None):
        """`engines`: the kokoro, chatterbox and conversion handles. `job_worker` is not called: binding it here makes
        Serve deploy the consumers with this application."""
        self.settings = settings
        self.library = library
        self.operations = Operations.from_handles(engines, library, settings.request_timeout_s, ServeReplicaCounts())
        self.jobs = JobService(jobs) if jobs is not None else None
        self.keys = BearerKeys.from_settings(self.settings.api_key_hashes, self.settings.api_key_hashes_env)
        if self.keys.enabled:
            logger.info("API key authentication is on: every route but /health needs a bearer key")
        elif self.settings.require_auth:
            raise RuntimeError(f"require_auth is set but no API key digests were configured "
                               f"(gateway.api_key_hashes or ${self.settings.api_key_hashes_env})")
        else:
            logger.warning("API key authentication is OFF (require_auth: false): anyone who can reach "
                           "this port can use it. Fine on 127.0.0.1; configure keys anywhere else.")
        # The cluster's processes share one environment: without the variable here the proxy lacks it too.
        if os.environ.get(PROXY_CALLBACK_ENV) != PROXY_CALLBACK:
            logger.warning("Streams whose client stops reading are not cut (gateway.stall_timeout_s): start Ray "
                           "with %s=%s", PROXY_CALLBACK_ENV, PROXY_CALLBACK)

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Ray Serve calls this on each replica after __init__: the API gets this replica's clients."""
        return create_api(self.settings, self.operations, self.library, self.keys, self.jobs)
