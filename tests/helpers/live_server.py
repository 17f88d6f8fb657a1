"""An ASGI app served by uvicorn on a free loopback port, in a thread: for tests that need real sockets (flow
control, client addresses), which the in-process TestClient does not have."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from ground.network import free_port


@contextlib.contextmanager
def live_server(app: ASGIApp) -> Iterator[int]:
    """Serve `app` on 0.0.0.0 (so that 127.0.0.2 and 127.0.0.3 reach it as clients of their own); yields the port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="0.0.0.0", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
