"""One real Ray Serve instance per test session, serving Chorus on a free local port."""

from __future__ import annotations

import os
import socket
import time

import httpx
import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

APP_NAME = "chorus"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def serve_instance():
    import ray
    from ray import serve

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    yield port
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="session")
def base_url(serve_instance) -> str:
    from ray import serve

    from ingress.app import build_app

    app = build_app({"kokoro": {"intra_op_threads": 2}})
    serve.run(app, name=APP_NAME, route_prefix="/")
    url = f"http://127.0.0.1:{serve_instance}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError("Chorus did not become healthy")


@pytest.fixture(scope="session")
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=120) as http:
        yield http
