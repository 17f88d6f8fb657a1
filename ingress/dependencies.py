"""FastAPI dependencies shared by the routers: what the gateway holds, request checks."""

from __future__ import annotations

import json
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from ingress.errors import APIError
from ingress.settings import GatewaySettings
from operations.core import Operations


def operations(request: Request) -> Operations:
    return request.app.state.operations


def gateway_settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


Core = Annotated[Operations, Depends(operations)]
Settings = Annotated[GatewaySettings, Depends(gateway_settings)]

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _not_null(schema: dict) -> dict:
    branches = [branch for branch in schema.get("anyOf", ()) if branch.get("type") != "null"]
    if len(branches) != 1:
        return schema
    return {**{key: value for key, value in schema.items() if key != "anyOf"}, **branches[0]}


def form_properties(model: type[BaseModel], *, leave_out: tuple[str, ...] = ()) -> dict[str, dict]:
    """A model's fields as multipart form fields for the document: a form field is text and cannot be null,
    so an optional field is documented by its non-null type (left out, it takes its default)."""
    return {name: _not_null(schema) for name, schema in model.model_json_schema()["properties"].items()
            if name not in leave_out}


def json_body_schema(model: type[BaseModel], required: tuple[str, ...]) -> dict:
    """A model shared by a form and a JSON body, as the JSON body: `required` (the audio a form sends as
    a file) must be there and not null."""
    schema = model.model_json_schema()
    properties = {name: _not_null(field) if name in required else field
                  for name, field in schema["properties"].items()}
    return {**schema, "properties": properties, "required": sorted({*schema.get("required", ()), *required})}


def media_type(request: Request) -> str:
    """The Content-Type without its parameters, lower case."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def unsupported_content_type(expected: str, got: str) -> APIError:
    return APIError(400, f"Content-Type must be {expected}, got '{got or 'none'}'", code="unsupported_content_type")


def json_body(request: Request) -> None:
    if media_type(request) != "application/json":
        raise unsupported_content_type("application/json", request.headers.get("content-type", ""))


Model = TypeVar("Model", bound=BaseModel)


async def validated_json(request: Request, model: type[Model]) -> Model:
    """The JSON body as `model`, for routes that also take forms (FastAPI cannot parse both)."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise APIError(400, "Request body is not valid JSON") from None
    return validated(model, body)


def validated(model: type[Model], fields, *, from_form: bool = False) -> Model:
    """`fields` (a parsed JSON body or multipart form fields) as `model`; a 400 like FastAPI's own if invalid.
    Form fields are all text, so they are converted to the documented types rather than held to them."""
    try:
        return model.model_validate(fields, strict=False if from_form else None)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
