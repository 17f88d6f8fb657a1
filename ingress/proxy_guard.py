"""ASGI middleware that runs in Ray Serve's HTTP proxy: it cuts a stream whose client has stopped taking bytes,
and it keeps clients from lifting the proxy's own limits.

Ray Serve gives a replica no back-pressure: the replica's ASGI `send` never waits for the client, and the
proxy holds whatever the client has not taken (measured with Ray 2.60: a replica streamed 131 MB to a
client that had read 100 bytes). Only the proxy's own `send` waits when a client's socket is full, so the
guard lives there. The gateway names the timeout in a header of each response it wants guarded
(`STALL_HEADER`, from `gateway.stall_timeout_s`; stripped here); once bytes have waited that long for the
client without its taking any (read from its TCP connection, ingress/delivery.py; where that cannot be read,
once one send waits that long), the guard tells the proxy that the client has gone. The proxy then cancels
the request on the gateway replica, which stops its engine work and releases its admission slot, as it does
for a client that hangs up.

Ray Serve 2.60 also lets any client switch off the proxy's end-to-end timeout (`x-request-timeout-seconds: 0`)
and the cancelling of a request whose client hangs up (`x-request-disconnect-disabled: ?1`): a client could
then hold engine work without limit, so the guard drops those headers before the proxy reads them.

Ray Serve's proxy installs it from RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH=ingress.proxy_guard:proxy_middlewares
(the Makefile, the test suite, the container image and the Kubernetes manifests set it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

from ray.util import metrics
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingress.delivery import Delivery

logger = logging.getLogger("ray.serve")

STALL_HEADER = b"x-chorus-stall-timeout-s"
PROXY_CALLBACK_ENV = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
PROXY_CALLBACK = "ingress.proxy_guard:proxy_middlewares"
# Ray Serve's per-request overrides of its proxy's limits; only the operator's config sets those.
PROXY_OVERRIDES = (b"x-request-timeout-seconds", b"x-request-disconnect-disabled")
# The messages that carry a response's headers: an HTTP response's start, a WebSocket's accept.
_HEADED = ("http.response.start", "websocket.accept")

_stalled = None  # created on first use: a Ray metric needs a connected worker, which an import may not have


def _count_stall(kind: str) -> None:
    global _stalled
    if _stalled is None:
        _stalled = metrics.Counter("chorus_stalled_streams", description="Streams cut because their client "
                                   "took no bytes for gateway.stall_timeout_s, by kind (http, websocket).",
                                   tag_keys=("kind",))
    _stalled.inc(tags={"kind": kind})


def proxy_middlewares() -> list[Middleware]:
    """What Ray Serve's proxy calls at start (see the module's docstring)."""
    return [Middleware(ProxyGuard)]


class ProxyGuard:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = [(name, value) for name, value in scope.get("headers", ()) if name.lower() not in PROXY_OVERRIDES]
        scope = {**scope, "headers": headers}
        stream = _GuardedStream(scope, receive, send)
        try:
            await self.app(scope, stream.receive, stream.send)
        finally:
            stream.stop_watching()


class _GuardedStream:
    """One connection's receive and send, with the gateway's stall timeout once its headers have named one.

    Where the connection's TCP state can be read (ingress.delivery), a watcher cuts the client once bytes have
    waited for it for the timeout without its taking any; elsewhere one send that waits that long cuts it.
    """

    def __init__(self, scope: Scope, receive: Receive, send: Send):
        self.scope = scope
        self._receive = receive
        self._send = send
        self.timeout_s: float | None = None
        self.cut = asyncio.Event()
        self._watcher: asyncio.Task | None = None

    async def send(self, message: Message) -> None:
        if self.cut.is_set():
            return  # the client is being cut: nothing more goes to it
        if message["type"] in _HEADED:
            message = self._take_timeout(message)
        if self.timeout_s is None:
            return await self._send(message)
        if self._watcher is not None:  # a send that waits for a full socket ends when the watcher cuts the client
            await self._unless_cut(self._send(message))
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._send(message)
        except TimeoutError:
            self._cut_off()

    async def _unless_cut(self, awaitable: Awaitable[Any]) -> tuple[bool, Any]:
        """(True, the result) of `awaitable`, or (False, None) if the client is cut first (it is then cancelled)."""
        waiting = asyncio.ensure_future(awaitable)
        cutting = asyncio.ensure_future(self.cut.wait())
        try:
            await asyncio.wait((waiting, cutting), return_when=asyncio.FIRST_COMPLETED)
        finally:
            cutting.cancel()
        if waiting.done():
            return True, waiting.result()
        waiting.cancel()
        return False, None

    async def receive(self) -> Message:
        """The client's next message; once the client is cut, the disconnect that makes the proxy cancel."""
        if not self.cut.is_set():
            received, message = await self._unless_cut(self._receive())
            if received:
                return message
        if self.scope["type"] == "websocket":
            return {"type": "websocket.disconnect", "code": 1001}
        return {"type": "http.disconnect"}

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()

    def _take_timeout(self, message: Message) -> Message:
        headers = []
        for name, value in message.get("headers", ()):
            if name.lower() == STALL_HEADER:
                self.timeout_s = float(value)
            else:
                headers.append((name, value))
        if self.timeout_s is not None and self._watcher is None and (delivery := Delivery.of(self._send)):
            self._watcher = asyncio.ensure_future(self._watch(delivery))
        return {**message, "headers": headers}

    async def _watch(self, delivery: Delivery) -> None:
        """Cut the client once bytes have waited for it for timeout_s and it has taken none of them."""
        poll_s = min(1.0, self.timeout_s / 4)
        taken, last_progress = -1, time.monotonic()
        while not self.cut.is_set():
            await asyncio.sleep(poll_s)
            try:
                progress = delivery.progress()
            except OSError:
                return  # the connection has closed: the server reports the disconnect itself
            if progress.taken != taken or not progress.waiting:
                taken, last_progress = progress.taken, time.monotonic()
            elif time.monotonic() - last_progress >= self.timeout_s:
                self._cut_off()

    def _cut_off(self) -> None:
        kind = self.scope["type"]
        client = self.scope.get("client") or ("unknown", 0)
        logger.warning("Cut a %s stream to %s:%s at %s: its client took no bytes for %g s (gateway.stall_timeout_s)",
                       kind, client[0], client[1], self.scope.get("path"), self.timeout_s)
        _count_stall(kind)
        self.cut.set()
