"""Batched Chatterbox behind Serve: concurrent HTTP requests get exactly what each gets alone, and the
batch limits come from the deployment's user_config.

The user_config test runs a Chatterbox-only application on the session's random-weight checkpoint.
`serve.run` gives every run a new code version, so Serve replaces the replica there; a config deploy
(`serve deploy`, KubeRay) that changes only user_config calls `reconfigure` on the running one.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from ray import serve

from deployments.chatterbox.deployment import ChatterboxDeployment
from tests.helpers.audio import decode
from tests.helpers.settings import CHATTERBOX_MAX_NEW_TOKENS, S3GEN_STEPS

# Every test here speaks to the session app's Chatterbox or Conversion: the random checkpoint is deployed.
pytestmark = pytest.mark.usefixtures("chatterbox_checkpoint")

APP = "chatterbox-batching"


def deploy(user_config: dict, checkpoint, library) -> None:
    settings = {"checkpoint_dir": str(checkpoint), "s3gen_steps": S3GEN_STEPS,
                "batching": {"max_new_tokens": CHATTERBOX_MAX_NEW_TOKENS}}
    app = ChatterboxDeployment.options(name="BatchingChatterbox", user_config=user_config,
                                       ray_actor_options={"num_cpus": 0.1}).bind(settings, str(library))
    serve.run(app, name=APP, route_prefix=None)


@pytest.fixture(scope="module")
def handle(serve_instance, chatterbox_checkpoint, tmp_path_factory):
    library = tmp_path_factory.mktemp("batching-library")
    deploy({"max_batch_rows": 8, "kv_cache_tokens": 8192, "max_new_tokens": 6, "s3gen_max_batch": 2},
           chatterbox_checkpoint, library)
    yield serve.get_deployment_handle("BatchingChatterbox", app_name=APP), chatterbox_checkpoint, library
    serve.delete(APP)


def limits_in_force(chatterbox) -> tuple:
    """As the replica's health tells them: rows per T3 step and items per S3Gen pass from its batchers,
    the KV cache budget and token cap from the user_config it applied."""
    health = chatterbox.health.remote().result(timeout_s=60)
    return (health.batching["t3_rows_per_step"], health.user_config["kv_cache_tokens"],
            health.user_config["max_new_tokens"], health.batching["s3gen_items_per_pass"])


def test_a_new_user_config_reaches_the_running_replica(handle):
    chatterbox, checkpoint, library = handle
    assert limits_in_force(chatterbox) == (8, 8192, 6, 2)
    deploy({"max_batch_rows": 4, "kv_cache_tokens": 4096, "max_new_tokens": 3, "s3gen_max_batch": 1},
           checkpoint, library)
    deadline = time.monotonic() + 60
    while (now := limits_in_force(chatterbox))[0] != 4:
        assert time.monotonic() < deadline, "the new user_config did not reach the replica"
        time.sleep(0.5)
    assert now == (4, 4096, 3, 1)


CONCURRENT = [  # different lengths, guidance (0 included), temperatures and seeds
    {"input": "Hello there.", "seed": 1},
    {"input": "A longer line. It has two sentences.", "seed": 2, "cfg_weight": 0.0},
    {"input": "Quiet, please.", "seed": 3, "temperature": 1.2},
    {"input": "Three, two, one.", "seed": 4, "cfg_weight": 1.0, "exaggeration": 0.9},
]


def test_concurrent_http_requests_get_what_each_gets_alone(client):
    def speak(fields: dict) -> np.ndarray:
        response = client.post("/v1/audio/speech", json={"model": "chatterbox", "response_format": "wav",
                                                         "no_watermark": True, **fields})
        assert response.status_code == 200, response.text
        return decode(response.content)[0]

    alone = [speak(fields) for fields in CONCURRENT]
    with ThreadPoolExecutor(len(CONCURRENT)) as pool:
        together = list(pool.map(speak, CONCURRENT))
    for fields, solo, batched in zip(CONCURRENT, alone, together, strict=True):
        assert len(solo) == len(batched) > 0, fields
        assert np.corrcoef(solo, batched)[0, 1] > 0.999, fields
