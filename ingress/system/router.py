"""GET /health: the gateway answers even when an engine is down, and says which."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ingress.dependencies import Kokoro
from ingress.errors import APIError

router = APIRouter(tags=["System"])
HEALTH_TIMEOUT_S = 2.0


@router.get("/health")
async def health(kokoro: Kokoro) -> JSONResponse:
    try:
        engine = asdict(await asyncio.wait_for(kokoro.health(), HEALTH_TIMEOUT_S))
    except (TimeoutError, APIError) as error:
        engine = {"engine": "kokoro", "status": "unavailable", "reason": str(error) or "health check timed out"}
    engines = {"kokoro": engine}
    healthy = all(state["status"] == "ready" for state in engines.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", "engines": engines},
                        status_code=200 if healthy else 503)
