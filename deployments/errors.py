"""Errors that engines raise and the gateway turns into HTTP answers.

They cross the Ray handle boundary by pickling, so each keeps its whole state in
`args`. `param` names the request field at fault.
"""

from __future__ import annotations


class EngineError(Exception):
    status_code = 500
    error_type = "server_error"

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message, param)
        self.message = message
        self.param = param

    def __str__(self) -> str:
        return self.message


class InvalidRequest(EngineError):
    """The request cannot be served as asked (bad voice spec, text with nothing to say, ...)."""

    status_code = 400
    error_type = "invalid_request_error"


class VoiceNotFound(InvalidRequest):
    def __init__(self, message: str, param: str | None = "voice"):
        super().__init__(message, param)


class EngineUnavailable(EngineError):
    """The engine could not load (no weights, no device); other engines keep serving."""

    status_code = 503
    error_type = "service_unavailable"


class PayloadTooLarge(EngineError):
    """An upload over its size limit."""

    status_code = 413
    error_type = "invalid_request_error"
