"""Every error leaves the gateway in OpenAI's shape: {"error": {message, type, param, code}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from deployments.errors import EngineError
from ingress import metrics

logger = logging.getLogger("ray.serve")

_TYPES_BY_STATUS = {
    400: "invalid_request_error",
    504: "timeout_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
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


def error_body(status_code: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    error_type = _TYPES_BY_STATUS.get(status_code, "server_error" if status_code >= 500 else "invalid_request_error")
    metrics.errors.inc(tags={"status": str(status_code), "type": code or error_type})
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(error: APIError | EngineError) -> JSONResponse:
    if isinstance(error, EngineError):
        error = APIError(error.status_code, error.message, error.param)
    return JSONResponse(error_body(error.status_code, error.message, error.param, error.code),
                        status_code=error.status_code, headers=error.headers)


def _validation_message(error: dict) -> tuple[str, str | None]:
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    param = ".".join(location) or None
    if error.get("type") == "json_invalid":
        return "Request body is not valid JSON", None
    if error.get("type") == "missing":
        return f"Missing required parameter: '{param}'", param
    if error.get("type") in ("model_attributes_type", "dict_type") and not location:
        return "Request body must be a JSON object", None
    if error.get("type") == "extra_forbidden":
        return f"Unrecognized parameter: '{param}'", param
    message = error.get("msg", "Invalid value").removeprefix("Value error, ")
    return (f"Invalid value for '{param}': {message}" if param else message), param


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, error: APIError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(EngineError)
    async def _engine_error(_: Request, error: EngineError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(error.errors()[0])
        return JSONResponse(error_body(400, message, param), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        messages = {404: "Not found", 405: "Method not allowed"}
        message = messages.get(error.status_code, str(error.detail))
        return JSONResponse(error_body(error.status_code, message), status_code=error.status_code,
                            headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        logger.exception("Unhandled error in the gateway")
        return JSONResponse(error_body(500, "Internal server error"), status_code=500)
