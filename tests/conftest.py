"""Fixtures every tier may use, the markers each test gets from its folder and fixtures, and the hypothesis
profiles.

Tiers (one folder each): unit (pure code), engines (the engines in-process, no Ray), gateway (the FastAPI
gateway in-process over fake engines), served (the real Serve app of this session, one per run, on a free
local port over HTTPS), browser (the playground in Chromium, against the served app) and cluster (multi-node,
`make test-cluster`). Shared code lives in tests/helpers/.
"""

from __future__ import annotations

import os
import shutil
import ssl
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import settings as hypothesis_settings

from ground.network import free_port
from install.local_tls import write_certificate
from tests.helpers.settings import APP_NAME, CHATTERBOX_MAX_NEW_TOKENS, CONVERSION_PIECE_SEC, S3GEN_STEPS, TEST_JOBS

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# Property tests: derandomized by default, so a red run reproduces (same examples every run, no example
# database); `make test-explore` runs them with fresh seeds (--hypothesis-profile=explore).
hypothesis_settings.register_profile("chorus", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, print_blob=True)
hypothesis_settings.load_profile("chorus")

TIERS = ("unit", "engines", "gateway", "served", "browser", "cluster")
# A test that needs one of these fixtures (directly or through another fixture) gets the marker.
MARKER_FIXTURES = {"served": {"serve_instance"}, "chatterbox": {"chatterbox_checkpoint"}, "browser": {"browser", "page"}}


def pytest_collection_modifyitems(config, items):
    """Markers from where a test lives (its tier) and from what it needs: `-m "not served"` then needs no hand
    tagging."""
    root = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(root).parts
        if len(parts) > 1 and parts[0] in TIERS:
            item.add_marker(parts[0])
        needs = set(item.fixturenames)
        for marker, fixtures in MARKER_FIXTURES.items():
            if needs & fixtures:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> Path:
    """The whole session serves HTTPS from this certificate, as a configured deployment would."""
    cert, key = write_certificate(tmp_path_factory.mktemp("tls"))  # the one `make serve-tls` makes
    return cert, key


@pytest.fixture(scope="session")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def serve_instance(certificate, metrics_port):
    import ray
    from ray import serve

    # Logical CPUs for scheduling only: every app the tests deploy (main, torch, broken) fits at once.
    # Metrics reach the exporter every 2 s instead of Ray's 10 s: the metrics tests wait less for them.
    # address="local": a cluster of its own, even when another Ray (a served test's server) runs on the machine.
    ray.init(address="local", num_cpus=8, include_dashboard=False, log_to_driver=False, _metrics_export_port=metrics_port,
             _system_config={"metrics_report_interval_ms": 2000})
    port = free_port()
    cert, key = certificate
    serve.start(http_options={"host": "127.0.0.1", "port": port, "ssl_certfile": str(cert), "ssl_keyfile": str(key)})
    yield port
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="session")
def chatterbox_checkpoint(tmp_path_factory) -> Path:
    """Random weights in the real checkpoint layout (1.3 GB, removed at the end of the session)."""
    from tests.helpers.chatterbox_checkpoint import build_checkpoint

    path = build_checkpoint(tmp_path_factory.mktemp("chatterbox-random"))
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="session")
def voice_library(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("voice-library")


def needs_chatterbox(session: pytest.Session) -> bool:
    """Whether a selected test needs the random Chatterbox checkpoint (the `chatterbox` marker, set from the
    chatterbox_checkpoint fixture, directly, through another fixture or by `usefixtures`)."""
    return any(item.get_closest_marker("chatterbox") for item in session.items)


@pytest.fixture(scope="session")
def base_url(request, serve_instance, tls_context, tmp_path_factory, voice_library) -> str:
    """The session's Chorus app. Its Chatterbox and Conversion get the random checkpoint only when a selected
    test needs it (building it and loading it twice is a good part of the start-up); otherwise they run
    without weights, unavailable, as on a machine without them."""
    from ray import serve

    from ingress.app import build_app

    checkpoint = request.getfixturevalue("chatterbox_checkpoint") if needs_chatterbox(request.session) else None
    weights = {"checkpoint_dir": str(checkpoint)} if checkpoint else {}
    jobs = {**TEST_JOBS, "redis_data_dir": str(tmp_path_factory.mktemp("redis"))}
    # S3Gen's work grows with the reference it imitates and with its decoder steps: 1 s of each clip and
    # 2 steps keep a chunk near 1 s on two CPU cores (4.8 s with 2 s of reference and 10 steps). A first
    # chunk of up to 12 words: a clone's sample sentence is then one chunk (one S3Gen pass).
    chatterbox = {**weights, "max_reference_duration_sec": 1, "first_chunk_size": 12,
                  "s3gen_steps": S3GEN_STEPS, "batching": {"max_new_tokens": CHATTERBOX_MAX_NEW_TOKENS}}
    # Voice conversion: S3Gen of the same checkpoint; pieces of 5 s let a 12 s input test the joins.
    conversion = {**weights, "max_reference_duration_sec": 1, "s3gen_steps": S3GEN_STEPS,
                  "piece_sec": CONVERSION_PIECE_SEC}
    app = build_app({"gateway": {"require_auth": False}, "kokoro": {"intra_op_threads": 2}, "jobs": jobs,
                     "chatterbox": chatterbox, "conversion": conversion, "voice_library": {"root": str(voice_library)}})
    serve.run(app, name=APP_NAME, route_prefix="/")
    url = f"https://127.0.0.1:{serve_instance}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=5, verify=tls_context).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError("Chorus did not become healthy")


@pytest.fixture(scope="session")
def tls_context(certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture(scope="session")
def client(base_url, tls_context):
    with httpx.Client(base_url=base_url, timeout=120, verify=tls_context) as http:
        yield http
