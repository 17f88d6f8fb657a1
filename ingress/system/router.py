"""GET /health: the gateway answers even when an engine is down, and says which.

200 while at least one engine is ready ("degraded" when another is not, for example Chatterbox
without weights); 503 when none is, so a probe takes a replica that can serve nothing out.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ground.errors import ServiceError
from ingress.dependencies import Core
from operations.engines import EngineClient

router = APIRouter(tags=["System"])
HEALTH_TIMEOUT_S = 2.0


async def _engine_health(client: EngineClient) -> dict:
    try:
        return asdict(await asyncio.wait_for(client.health(), HEALTH_TIMEOUT_S))
    except (TimeoutError, ServiceError) as error:
        return {"engine": client.engine, "status": "unavailable", "reason": str(error) or "health check timed out"}


@router.get("/health")
async def health(core: Core, request: Request) -> JSONResponse:
    states = await asyncio.gather(*(_engine_health(client) for client in core.engines))
    engines = {client.engine: state for client, state in zip(core.engines, states, strict=True)}
    ready = [state["status"] == "ready" for state in engines.values()]
    status = "ok" if all(ready) else "degraded" if any(ready) else "unavailable"
    # auth_required: the playground shows its API-key field only where the API asks for a key.
    return JSONResponse({"status": status, "engines": engines, "auth_required": request.app.state.keys.enabled},
                        status_code=200 if any(ready) else 503)
