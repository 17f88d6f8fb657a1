"""ASGI middleware that guards every route before any body is read or decoded.

Authentication, the request body limit and per-replica admission control, with a share per client.
Each refusal is an error in OpenAI's shape; /health stays open so probes work without a key.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter

from starlette.types import ASGIApp, Receive, Scope, Send

from ground.clients import current_client
from ingress.auth import OPEN_PATHS, BearerKeys
from ingress.errors import APIError, error_response

logger = logging.getLogger("ray.serve")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _guarded(scope: Scope) -> bool:
    if scope["type"] != "http":
        return False
    # Under a route prefix the path still carries it; compare what the app's routes see.
    return scope["path"].removeprefix(scope.get("root_path", "")).rstrip("/") not in OPEN_PATHS


class BearerAuth:
    def __init__(self, app: ASGIApp, keys: BearerKeys):
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.keys.enabled and _guarded(scope) and not self.keys.allows(_header(scope, b"authorization")):
            error = APIError(401, "Missing or invalid API key: send 'Authorization: Bearer <key>'",
                             code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
            return await error_response(error)(scope, receive, send)
        await self.app(scope, receive, send)


class BodySizeLimit:
    """Refuses a body from its declared length; a chunked body is read up to the limit first.

    Routes that take audio (`upload_paths`) have a larger limit: room for the largest allowed
    clip as base64 or multipart; the clip's own size is checked again once it is decoded.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, upload_max_bytes: int | None = None,
                 upload_paths: tuple[str, ...] = ()):
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes or max_bytes
        self.upload_paths = upload_paths

    def _limit(self, scope: Scope) -> int:
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        return self.upload_max_bytes if path.startswith(self.upload_paths) else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self._limit(scope)
        declared = _header(scope, b"content-length")
        if declared is not None:  # the HTTP server holds the body to its declared length
            if declared.isdigit() and int(declared) > limit:
                return await error_response(_too_large(declared, limit))(scope, receive, send)
            return await self.app(scope, receive, send)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                return await error_response(_too_large(str(len(body)), limit))(scope, receive, send)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)


def _too_large(size: str, limit: int) -> APIError:
    return APIError(413, f"Request body is {size} bytes or more; the limit is {limit}", code="request_too_large")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that hands over the already-read body, then the live connection."""
    delivered = False

    async def replayed():
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def client_of(scope: Scope) -> str:
    """Who a request is from, for its share and its usage: its API key (by a short digest, never the key), else
    its address."""
    key = _header(scope, b"authorization") or _header(scope, b"xi-api-key")
    if key:
        return "key:" + hashlib.sha256(key.removeprefix("Bearer ").strip().encode()).hexdigest()[:16]
    client = scope.get("client")
    return "address:" + (client[0] if client else "unknown")


class AdmissionLimit:
    """At most `limit` requests in flight per gateway replica (streams count until their last byte), and at most
    `per_client` of them from one client: a full replica is a 503 for everyone, a client over its own share
    a 429 for that client alone."""

    def __init__(self, app: ASGIApp, limit: int, per_client: int, retry_after_s: int):
        self.app = app
        self.limit = limit
        self.per_client = per_client
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.by_client: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = client_of(scope)
        # This request's (or socket's) own context: its engine calls count against the client, admitted or not.
        current_client.set(client)
        if not _guarded(scope):
            return await self.app(scope, receive, send)
        retry = {"Retry-After": str(self.retry_after_s)}
        if self.in_flight >= self.limit:
            error = APIError(503, f"Chorus is at capacity ({self.limit} requests in flight); retry shortly",
                             code="server_overloaded", headers=retry)
            return await error_response(error)(scope, receive, send)
        if self.by_client[client] >= self.per_client:
            error = APIError(429, f"This client has {self.per_client} requests in flight, its share of this "
                             "replica; retry when one has ended", code="client_over_share", headers=retry)
            return await error_response(error)(scope, receive, send)
        self.in_flight += 1
        self.by_client[client] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.by_client[client] -= 1
            if not self.by_client[client]:
                del self.by_client[client]
