"""Every error leaves the gateway in OpenAI's shape: {"error": {message, type, param, code}}.

Errors from below (engines, the voice library, the operations core) are EngineErrors and keep
their status, param and code; APIError is for what only HTTP knows (auth, capacity, content types).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from deployments.errors import EngineError, describe_validation_error
from ingress import metrics

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


def as_api_error(error: APIError | EngineError) -> APIError:
    if isinstance(error, APIError):
        return error
    headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s else None
    return APIError(error.status_code, error.message, error.param, error.code, headers)


def error_response(error: APIError | EngineError) -> JSONResponse:
    error = as_api_error(error)
    body = error_model(error.status_code, error.message, error.param, error.code)
    return JSONResponse(body.model_dump(), status_code=error.status_code, headers=error.headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, error: APIError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(EngineError)
    async def _engine_error(_: Request, error: EngineError) -> JSONResponse:
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
