"""The gateway deployment: one FastAPI app that owns HTTP for every engine."""

from __future__ import annotations

from fastapi import FastAPI, Request
from ray import serve
from ray.serve.handle import DeploymentHandle

from ingress.engines import KokoroClient
from ingress.errors import APIError, error_response, install_error_handlers
from ingress.settings import GatewaySettings
from ingress.simple.router import router as simple_router
from ingress.speech.router import router as speech_router
from ingress.speech.service import SpeechService
from ingress.system.router import router as system_router


def create_api() -> FastAPI:
    api = FastAPI(title="Chorus", version="0.1.0",
                  description="Text-to-speech on Ray Serve: OpenAI speech, the simple /synthesize API, and more.")
    install_error_handlers(api)

    @api.middleware("http")
    async def limit_body_size(request: Request, call_next):
        # Refuse oversized bodies from their declared length, before anything is read or decoded.
        declared = request.headers.get("content-length")
        limit = request.app.state.settings.max_body_bytes
        if declared and declared.isdigit() and int(declared) > limit:
            return error_response(APIError(413, f"Request body is {declared} bytes; the limit is {limit}",
                                           code="request_too_large"))
        return await call_next(request)

    for router in (system_router, speech_router, simple_router):
        api.include_router(router)
    return api


@serve.deployment(name="Gateway", ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=64)
@serve.ingress()
class Gateway:
    def __init__(self, kokoro: DeploymentHandle, settings: dict | GatewaySettings):
        self.settings = GatewaySettings.model_validate(settings)
        self.kokoro = KokoroClient(kokoro)

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Ray Serve calls this on each replica after __init__: the API gets this replica's clients."""
        api = create_api()
        api.state.settings = self.settings
        api.state.kokoro = self.kokoro
        api.state.speech = SpeechService(self.kokoro, self.settings)
        return api
