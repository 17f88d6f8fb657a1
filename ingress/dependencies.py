"""FastAPI dependencies shared by the routers: services held by the gateway, request checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ingress.engines import KokoroClient
from ingress.errors import APIError
from ingress.speech.service import SpeechService


def kokoro_client(request: Request) -> KokoroClient:
    return request.app.state.kokoro


def speech_service(request: Request) -> SpeechService:
    return request.app.state.speech


Kokoro = Annotated[KokoroClient, Depends(kokoro_client)]
Speech = Annotated[SpeechService, Depends(speech_service)]


def json_body(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise APIError(400, f"Content-Type must be application/json, got '{content_type or 'none'}'",
                       code="unsupported_content_type")
