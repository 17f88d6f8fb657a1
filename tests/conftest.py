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
from ingress.proxy_guard import PROXY_CALLBACK, PROXY_CALLBACK_ENV
from install.local_tls import write_certificate
from tests.helpers.replica_logs import errors_since, log_sizes
from tests.helpers.settings import APP_NAME, CHATTERBOX_MAX_NEW_TOKENS, CONVERSION_PIECE_SEC, S3GEN_STEPS, TEST_JOBS

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# As the Makefile sets it: every Ray cluster the tests start has the proxy guard that cuts stalled streams.
os.environ.setdefault(PROXY_CALLBACK_ENV, PROXY_CALLBACK)

# Property tests: derandomized by default, so a red run reproduces (same examples every run, no example
# database); `make test-explore` runs them with fresh seeds (--hypothesis-profile=explore).
hypothesis_settings.register_profile("chorus", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, print_blob=True)
hypothesis_settings.load_profile("chorus")

TIERS = ("unit", "engines", "gateway", "served", "browser", "cluster")
# A test that needs one of these fixtures (directly or through another fixture) gets the marker.
MARKER_FIXTURES = {"served": {"serve_instance"}, "chatterbox": {"chatterbox_checkpoint"},
                   "chatterbox_family": {"chatterbox_family"}, "browser": {"browser", "page"}}


LOG_OFFSETS = pytest.StashKey[dict[Path, int]]()


def pytest_runtest_setup(item):
    """Mark where each replica's log stands, so that a failure can show what the replicas logged meanwhile."""
    if item.get_closest_marker("served") or item.get_closest_marker("browser"):
        item.stash[LOG_OFFSETS] = log_sizes()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed served test's report carries the errors its replicas logged while it ran: a gateway's 500 or a
    socket's 1011 says no more than that, and CI keeps nothing of the Ray session's logs."""
    report = (yield).get_result()
    offsets = item.stash.get(LOG_OFFSETS, None)
    if report.failed and offsets is not None:
        logged = errors_since(offsets)
        if logged:
            report.sections.append(("errors the replicas logged", logged))


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


def _random_checkpoint(tmp_path_factory, model: str):
    from tests.helpers.chatterbox_checkpoint import build_checkpoint

    path = build_checkpoint(tmp_path_factory.mktemp(f"{model}-random"), model=model)
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="session")
def chatterbox_checkpoint(tmp_path_factory) -> Path:
    """Random weights in the original's checkpoint layout (1.3 GB, removed at the end of the session)."""
    yield from _random_checkpoint(tmp_path_factory, "chatterbox")


@pytest.fixture(scope="session")
def turbo_checkpoint(tmp_path_factory) -> Path:
    """Random weights in Chatterbox Turbo's checkpoint layout (1.6 GB)."""
    yield from _random_checkpoint(tmp_path_factory, "chatterbox-turbo")


@pytest.fixture(scope="session")
def multilingual_checkpoint(tmp_path_factory) -> Path:
    """Random weights in Chatterbox Multilingual's checkpoint layout (1.3 GB)."""
    yield from _random_checkpoint(tmp_path_factory, "chatterbox-multilingual")


@pytest.fixture(scope="session")
def chatterbox_family(chatterbox_checkpoint, turbo_checkpoint, multilingual_checkpoint) -> dict[str, Path]:
    """Every Chatterbox model's random checkpoint, by model name: a served test that asks for this gets the
    session's app with all three models loaded."""
    return {"chatterbox": chatterbox_checkpoint, "chatterbox-turbo": turbo_checkpoint,
            "chatterbox-multilingual": multilingual_checkpoint}


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
    family = {}
    if any(item.get_closest_marker("chatterbox_family") for item in request.session.items):
        family = request.getfixturevalue("chatterbox_family")
    jobs = {**TEST_JOBS, "redis_data_dir": str(tmp_path_factory.mktemp("redis"))}
    # S3Gen's work grows with the reference it imitates and with its decoder steps: 1 s of each clip and
    # 2 steps keep a chunk near 1 s on two CPU cores (4.8 s with 2 s of reference and 10 steps). A first
    # chunk of up to 12 words: a clone's sample sentence is then one chunk (one S3Gen pass).
    generation = {"first_chunk_size": 12, "s3gen_steps": S3GEN_STEPS,
                  "batching": {"max_new_tokens": CHATTERBOX_MAX_NEW_TOKENS}}
    chatterbox = {**weights, **generation, "max_reference_duration_sec": 1}
    # Turbo and Multilingual as the original, with their own checkpoints when a test needs them; Turbo
    # clones from more than 5 s of reference.
    siblings = {key: {**generation, "max_reference_duration_sec": 6 if key == "chatterbox_turbo" else 1,
                      **({"checkpoint_dir": str(family[model])} if model in family else {})}
                for key, model in (("chatterbox_turbo", "chatterbox-turbo"),
                                   ("chatterbox_multilingual", "chatterbox-multilingual"))}
    # Voice conversion: S3Gen of the same checkpoint; pieces of 5 s let a 12 s input test the joins.
    conversion = {**weights, "max_reference_duration_sec": 1, "s3gen_steps": S3GEN_STEPS,
                  "piece_sec": CONVERSION_PIECE_SEC}
    app = build_app({"gateway": {"require_auth": False}, "kokoro": {"intra_op_threads": 2}, "jobs": jobs,
                     "chatterbox": chatterbox, **siblings, "conversion": conversion,
                     "voice_library": {"root": str(voice_library)}})
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
