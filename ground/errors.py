"""The errors of every layer below the front ends (engines, the voice library, the operations core), each
with the HTTP status a front end answers it with (`http_status`).

Front ends translate them: the gateway into an HTTP status in OpenAI's error shape, the job
worker into a failed job (4xx and an engine that cannot load) or a retry (the rest). They
cross the Ray handle boundary by pickling, so each keeps its whole state in `args`. `param`
names the request field at fault, `code` is a short machine-readable reason.
"""

from __future__ import annotations


class ServiceError(Exception):
    http_status = 500
    default_code: str | None = None
    retry_after_s: int | None = None  # transient: a client may try again after this long

    def __init__(self, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message, param, code)
        self.message = message
        self.param = param
        self.code = code or self.default_code

    def __str__(self) -> str:
        return self.message


class InvalidRequest(ServiceError):
    """The request cannot be served as asked (bad voice spec, text with nothing to say, ...)."""

    http_status = 400


class AudioTooLong(InvalidRequest):
    """Uploaded audio over the duration a route or operation accepts."""

    default_code = "audio_too_long"


class UnknownVoice(InvalidRequest):
    """A request names a voice that no library and no engine has."""

    def __init__(self, message: str, param: str | None = "voice", code: str | None = None):
        super().__init__(message, param, code)


class VoiceNotFound(UnknownVoice):
    """A voice looked up as a resource (its own route, a conversion target) does not exist: 404."""

    http_status = 404
    default_code = "voice_not_found"


class PayloadTooLarge(ServiceError):
    """An upload over its size limit."""

    http_status = 413
    default_code = "request_too_large"


class EngineUnavailable(ServiceError):
    """The engine could not load (no weights, no device); other engines keep serving. Retrying does not help."""

    http_status = 503
    default_code = "engine_unavailable"


class EngineUnreachable(ServiceError):
    """The engine's replicas did not answer (restarting, overloaded, gone): worth retrying shortly."""

    http_status = 503
    default_code = "engine_unreachable"
    retry_after_s = 5


class EngineTimeout(ServiceError):
    """The engine did not answer within the caller's time limit."""

    http_status = 504
    default_code = "timeout"


def is_final(error: ServiceError) -> bool:
    """Whether asking again unchanged gives the same failure (a bad request, an engine without weights)."""
    return error.http_status < 500 or isinstance(error, EngineUnavailable)


def describe_validation_error(error: dict, noun: str = "parameter") -> tuple[str, str | None]:
    """One pydantic error as (message, the field's dotted name); `noun` is what the dialect calls a field."""
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    param = ".".join(location) or None
    kind = error.get("type")
    if kind == "json_invalid":
        return "Request body is not valid JSON", None
    if kind == "missing" and not location:
        return "Request body is empty: send a JSON object", None
    if kind == "missing":
        return f"Missing required {noun}: '{param}'", param
    if kind in ("model_attributes_type", "model_type", "dict_type") and not location:
        return "Request body must be a JSON object", None
    if kind == "extra_forbidden":
        return f"Unrecognized {noun}: '{param}'", param
    message = error.get("msg", "Invalid value").removeprefix("Value error, ")
    return (f"Invalid value for '{param}': {message}" if param else message), param
