"""FastAPI dependencies shared by the routers: services held by the gateway, request checks."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

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


Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], fields) -> Model:
    """`fields` (a parsed JSON body or multipart form fields) as `model`; a 400 like FastAPI's own if invalid."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
