"""One real Ray Serve instance per test session, serving Chorus on a free local port."""

from __future__ import annotations

import os
import shutil
import ssl
import time
from pathlib import Path

import httpx
import pytest

from ground.network import free_port
from tests.tls import write_self_signed

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

APP_NAME = "chorus"
# Jobs in the test app: short enough that a dead consumer's job comes back within seconds
# (visibility timeout, which live consumers renew) and results expire within a test (result expiry).
# max_job_s leaves room for a voice conversion on random S3Gen weights on a slow, busy 2-core CI machine.
TEST_JOBS = {"visibility_timeout_s": 3, "max_job_s": 30, "restore_interval_s": 1,
             "result_expiry_s": 15, "max_retries": 1, "runsync_wait_s": 20, "consumer_concurrency": 2}


# Random weights never emit T3's stop token: every chunk is this many speech tokens (0.4 s of audio).
CHATTERBOX_MAX_NEW_TOKENS = 10
CONVERSION_PIECE_SEC = 5
S3GEN_STEPS = 2  # of the flow-matching decoder: a fifth of the released 10 steps' work; the plumbing is the same


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> Path:
    """The whole session serves HTTPS from this certificate, as a configured deployment would."""
    cert, key = write_self_signed(tmp_path_factory.mktemp("tls"))
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
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, _metrics_export_port=metrics_port,
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
    from tests.chatterbox_fixture import build_checkpoint

    path = build_checkpoint(tmp_path_factory.mktemp("chatterbox-random"))
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="session")
def voice_library(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("voice-library")


@pytest.fixture(scope="session")
def base_url(serve_instance, tls_context, tmp_path_factory, chatterbox_checkpoint, voice_library) -> str:
    from ray import serve

    from ingress.app import build_app

    jobs = {**TEST_JOBS, "redis_data_dir": str(tmp_path_factory.mktemp("redis"))}
    # S3Gen's work grows with the reference it imitates and with its decoder steps: 1 s of each clip and
    # 2 steps keep a chunk near 1 s on two CPU cores (4.8 s with 2 s of reference and 10 steps). A first
    # chunk of up to 12 words: a clone's sample sentence is then one chunk (one S3Gen pass).
    chatterbox = {"checkpoint_dir": str(chatterbox_checkpoint), "max_reference_duration_sec": 1, "first_chunk_size": 12,
                  "s3gen_steps": S3GEN_STEPS, "batching": {"max_new_tokens": CHATTERBOX_MAX_NEW_TOKENS}}
    # Voice conversion: S3Gen of the same checkpoint; pieces of 5 s let a 12 s input test the joins.
    conversion = {"checkpoint_dir": str(chatterbox_checkpoint), "max_reference_duration_sec": 1,
                  "s3gen_steps": S3GEN_STEPS, "piece_sec": CONVERSION_PIECE_SEC}
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


def gateway_over_test_engines(gateway: dict, library: Path, **own_engines):
    """A second application that is a Gateway with its own settings, calling the test app's engines (handles
    across applications) but for `own_engines` (bound deployments, by engine name): a front-end test then
    deploys one replica or two, not a whole graph."""
    from ray import serve

    from ingress.gateway import Gateway
    from ingress.settings import GatewaySettings
    from stores.voice_library.settings import VoiceLibrarySettings

    engines = {name: serve.get_deployment_handle(deployment, app_name=APP_NAME)
               for name, deployment in (("kokoro", "Kokoro"), ("chatterbox", "Chatterbox"), ("conversion", "Conversion"))}
    return Gateway.options(ray_actor_options={"num_cpus": 0.1}).bind(
        {**engines, **own_engines}, GatewaySettings.model_validate(gateway), VoiceLibrarySettings(root=library))


@pytest.fixture(scope="session")
def tls_context(certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture(scope="session")
def client(base_url, tls_context):
    with httpx.Client(base_url=base_url, timeout=120, verify=tls_context) as http:
        yield http
