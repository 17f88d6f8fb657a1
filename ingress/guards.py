"""ASGI middleware that guards every route before any body is read or decoded.

Authentication, the request body limit and per-replica admission control, with a share per client.
Each refusal is an error in OpenAI's shape; /health stays open so probes work without a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ground.clients import current_client
from ingress.auth import OPEN_PATHS, BearerKeys
from ingress.errors import APIError, error_response
from ingress.proxy_guard import STALL_HEADER

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


class Admission:
    """The request slots of one gateway replica: at most `limit` in flight (streams count until their last
    byte, WebSockets while they have synthesis in flight), and at most `per_client` held by one client (its
    requests and its open sockets). Counted per client by digest: a lookup and an increment, no key kept."""

    def __init__(self, limit: int, per_client: int, max_websockets: int, retry_after_s: int):
        self.limit = limit
        self.per_client = per_client
        self.max_websockets = max_websockets
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.websockets = 0
        self.by_client: Counter[str] = Counter()
        self._waiting: deque[asyncio.Future] = deque()  # sockets' syntheses waiting for a slot

    def refusal(self, client: str) -> APIError | None:
        """Why a new request from `client` may not start now (a 503 for everyone, a 429 for this client), if so."""
        retry = {"Retry-After": str(self.retry_after_s)}
        if self.in_flight >= self.limit:
            return APIError(503, f"Chorus is at capacity ({self.limit} requests in flight); retry shortly",
                            code="server_overloaded", headers=retry)
        return self._over_share(client)

    def socket_refusal(self, client: str) -> APIError | None:
        """Why a new WebSocket from `client` may not open now, if so."""
        if self.websockets >= self.max_websockets:
            return APIError(503, f"Chorus has {self.max_websockets} WebSockets open on this replica, its limit; "
                            "retry shortly", code="too_many_websockets")
        return self._over_share(client)

    def _over_share(self, client: str) -> APIError | None:
        if self.by_client[client] < self.per_client:
            return None
        return APIError(429, f"This client has {self.per_client} requests or sockets open, its share of this "
                        "replica; retry when one has ended", code="client_over_share",
                        headers={"Retry-After": str(self.retry_after_s)})

    @contextlib.contextmanager
    def request(self, client: str) -> Iterator[None]:
        """Hold a slot and a share of `client`'s (checked with `refusal` first)."""
        self.in_flight += 1
        self.by_client[client] += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._leave(client)

    @contextlib.contextmanager
    def websocket(self, client: str) -> Iterator[None]:
        """Hold an open socket and a share of `client`'s (checked with `socket_refusal` first)."""
        self.websockets += 1
        self.by_client[client] += 1
        try:
            yield
        finally:
            self.websockets -= 1
            self._leave(client)

    @contextlib.asynccontextmanager
    async def synthesis(self) -> AsyncIterator[None]:
        """Hold a slot for a socket's synthesis, waiting for one to free: the socket's own text waits, while
        HTTP requests are still answered at once (their 503 stays theirs)."""
        while self.in_flight >= self.limit:
            freed = asyncio.get_running_loop().create_future()
            self._waiting.append(freed)
            try:
                await freed
            except asyncio.CancelledError:
                if freed.done():  # woken, then cancelled: hand the wake-up on
                    self._wake_one()
                raise
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._wake_one()

    def _leave(self, client: str) -> None:
        self.by_client[client] -= 1
        if not self.by_client[client]:
            del self.by_client[client]
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class AdmissionLimit:
    """Admits each guarded HTTP request into the replica's `Admission`; a refusal is answered in OpenAI's shape.
    Every response also names the stall timeout that Ray Serve's proxy enforces (ingress/proxy_guard.py)."""

    def __init__(self, app: ASGIApp, admission: Admission, stall_timeout_s: float):
        self.app = app
        self.admission = admission
        self.stall_header = (STALL_HEADER, f"{stall_timeout_s:g}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = client_of(scope)
        # This request's (or socket's) own context: its engine calls count against the client, admitted or not.
        current_client.set(client)
        if scope["type"] == "websocket":
            return await self.app(scope, receive, self._naming_stall_timeout(send))
        if not _guarded(scope):
            return await self.app(scope, receive, send)
        error = self.admission.refusal(client)
        if error is not None:
            return await error_response(error)(scope, receive, send)
        with self.admission.request(client):
            await self.app(scope, receive, self._naming_stall_timeout(send))

    def _naming_stall_timeout(self, send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message = {**message, "headers": [*message.get("headers", ()), self.stall_header]}
            await send(message)

        return sending
