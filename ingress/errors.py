"""Every error leaves the gateway in OpenAI's shape: {"error": {message, type, param, code}}.

Errors from below (engines, the voice library, the operations core) are ground.errors' ServiceErrors
and keep their status, param and code; APIError is for what only HTTP knows (auth, capacity, content types).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ground.errors import ServiceError, describe_validation_error
from ingress import metrics
from ingress.openapi import amend_openapi

logger = logging.getLogger("ray.serve")

_TYPES_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class APIError(Exception):
    def __init__(self, status_code: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """The body of every error response, and the payload of a stream's error event."""

    error: ErrorDetail


def error_model(status_code: int, message: str, param: str | None = None, code: str | None = None) -> ErrorResponse:
    """The error in OpenAI's shape, counted in `chorus_errors`: every error the gateway sends passes here once."""
    error_type = _TYPES_BY_STATUS.get(status_code, "server_error" if status_code >= 500 else "invalid_request_error")
    metrics.errors.inc(tags={"status": str(status_code), "type": code or error_type})
    return ErrorResponse(error=ErrorDetail(message=message, type=error_type, param=param, code=code))


def as_api_error(error: APIError | ServiceError) -> APIError:
    if isinstance(error, APIError):
        return error
    headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s else None
    return APIError(error.http_status, error.message, error.param, error.code, headers)


def error_response(error: APIError | ServiceError) -> JSONResponse:
    error = as_api_error(error)
    body = error_model(error.status_code, error.message, error.param, error.code)
    return JSONResponse(body.model_dump(), status_code=error.status_code, headers=error.headers)


# The statuses any route may answer with an error body, as its OpenAPI document says: FastAPI's own
# 422 never happens (validation errors are 400 in the error shape).
DOCUMENTED_ERRORS = {
    400: "Bad request: a field is missing, malformed or out of range (`param` names it)",
    401: "No valid API key (when the deployment requires one)",
    404: "No such voice, job or route",
    405: "Method not allowed",
    413: "The body or an upload is over its size limit",
    500: "An unexpected error (logged)",
    503: "An engine is unavailable, or the gateway is at capacity (with Retry-After)",
    504: "An engine did not answer in time",
}


def document_errors(app: FastAPI) -> None:
    """Every operation in the app's OpenAPI document lists the error statuses above, in the error shape."""

    def amend(schema: dict) -> None:
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(error_schema.pop("$defs", {}))
        components["ErrorResponse"] = error_schema
        for unused in ("HTTPValidationError", "ValidationError"):  # only FastAPI's 422 referred to them
            components.pop(unused, None)
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status, description in DOCUMENTED_ERRORS.items():
                    responses.setdefault(str(status), {"description": description, "content": body})

    amend_openapi(app, amend)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, error: APIError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(ServiceError)
    async def _engine_error(_: Request, error: ServiceError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        message, param = describe_validation_error(error.errors()[0])
        return error_response(APIError(400, message, param))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        messages = {404: "Not found", 405: "Method not allowed"}
        message = messages.get(error.status_code, str(error.detail))
        return error_response(APIError(error.status_code, message, headers=getattr(error, "headers", None)))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        logger.exception("Unhandled error in the gateway")
        return error_response(APIError(500, "Internal server error"))
