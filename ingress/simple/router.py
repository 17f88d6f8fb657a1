"""HTTP routes of the simple API (the Flask Kokoro wrapper's): Kokoro voices only, WAV only.
Audio is built in memory: no temporary files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from ingress.dependencies import json_body
from ingress.simple.protocol import SynthesizeRequest, VoicesResponse
from ingress.simple.service import SimpleService

router = APIRouter(tags=["Simple API"])
_WAV_HEADERS = {"Content-Disposition": "attachment; filename=speech.wav"}


def simple_service(request: Request) -> SimpleService:
    return request.app.state.simple


SimpleServiceDep = Annotated[SimpleService, Depends(simple_service)]


@router.get("/voices")
async def voices(service: SimpleServiceDep) -> VoicesResponse:
    return await service.voices()


@router.post("/synthesize", dependencies=[Depends(json_body)], response_class=Response,
             responses={200: {"content": {"audio/wav": {}}}})
async def synthesize(request: SynthesizeRequest, service: SimpleServiceDep) -> Response:
    return Response(await service.whole(request), media_type="audio/wav", headers=_WAV_HEADERS)


@router.post("/synthesize/stream", dependencies=[Depends(json_body)], response_class=StreamingResponse,
             responses={200: {"content": {"audio/wav": {}}}})
async def synthesize_stream(request: SynthesizeRequest, service: SimpleServiceDep) -> StreamingResponse:
    return StreamingResponse(await service.stream(request), media_type="audio/wav", headers=_WAV_HEADERS)
