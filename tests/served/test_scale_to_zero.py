"""An engine that autoscales to zero (as the embedded default's Chatterbox models and Conversion do): /health
and /v1/models report it from the Serve controller's counts without starting a replica; a request starts one."""

from __future__ import annotations

import time
from collections import Counter

from tests.helpers.errors import assert_error
from tests.helpers.served import gateway_over_test_engines

APP = "from-zero"
FROM_ZERO = {"autoscaling_config": {"min_replicas": 0, "initial_replicas": 0, "max_replicas": 1,
                                    "downscale_to_zero_delay_s": 600},
             "ray_actor_options": {"num_cpus": 0.1}}


def replica_states(deployment: str) -> Counter[str]:
    """Read from the controller now, not through the gateway's counts (which may be 5 s old)."""
    from ray import serve

    from operations.replicas import replica_states as by_state

    return by_state(serve.status().applications[APP].deployments[deployment])


def test_an_engine_at_zero_replicas_is_idle_until_a_request_starts_it(client, tmp_path):
    from ray import serve

    from deployments.chatterbox.deployment import DEPLOYMENT_NAMES, ChatterboxDeployment
    from deployments.chatterbox.protocol import TURBO

    # A gateway whose Turbo is its own, at zero replicas and without a checkpoint; its other engines are the
    # test app's, running.
    turbo = ChatterboxDeployment.options(name=DEPLOYMENT_NAMES[TURBO], **FROM_ZERO).bind({"model": TURBO},
                                                                                          str(tmp_path))
    serve.run(gateway_over_test_engines({"require_auth": False}, tmp_path, **{TURBO: turbo}), name=APP,
              route_prefix=f"/{APP}")
    try:
        for _ in range(3):  # polled as a probe polls: each answer from the counts, none starting a replica
            health = client.get(f"/{APP}/health")
            assert health.status_code == 200, health.text
            assert health.json()["engines"][TURBO]["status"] == "idle", health.json()
            assert health.json()["engines"]["kokoro"]["status"] == "ready"
        models = {card["id"]: card for card in client.get(f"/{APP}/v1/models").json()["data"]}
        assert models[TURBO]["status"] == "idle" and models[TURBO]["ready"] is False
        assert models["kokoro"]["status"] == "ready" and models["kokoro"]["ready"] is True
        assert replica_states(DEPLOYMENT_NAMES[TURBO]) == Counter()

        # A request starts the replica and waits for it: here it has no weights, so it says why.
        response = client.post(f"/{APP}/v1/audio/speech", json={"model": TURBO, "input": "Hello there."})
        assert_error(response, 503, None, "checkpoint")
        assert replica_states(DEPLOYMENT_NAMES[TURBO]) == Counter({"RUNNING": 1})
        # The gateway's counts are up to 5 s old: it says so once it has read them again.
        deadline = time.monotonic() + 30
        while (turbo := client.get(f"/{APP}/health").json()["engines"][TURBO])["status"] == "idle":
            assert time.monotonic() < deadline, turbo
            time.sleep(0.2)
        assert turbo["status"] == "unavailable" and "checkpoint" in turbo["reason"]
    finally:
        serve.delete(APP)
