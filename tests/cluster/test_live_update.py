"""`serve deploy` of a changed config under a light steady load: no request fails, and the change shows."""

from __future__ import annotations

import httpx

from tests.helpers.cluster import Repeating


class SteadyLoad(Repeating):
    """One short speech request after another on a thread, counting answers and failures."""

    every_s = 0.2

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url
        self.answered = 0
        self.failures: list[str] = []

    def probe(self):
        try:
            response = httpx.post(f"{self.base_url}/v1/audio/speech", timeout=60,
                                  json={"input": "Steady as she goes.", "response_format": "wav"})
            if response.status_code == 200 and response.content[:4] == b"RIFF":
                self.answered += 1
            else:
                self.failures.append(f"{response.status_code}: {response.text[:200]}")
        except httpx.HTTPError as error:
            self.failures.append(repr(error))


def served_since(chorus, load: SteadyLoad, count: int) -> int:
    """Once the load has had an answer after the `count`th (the service serves after a change too): how many."""
    chorus.wait_for(lambda: load.answered > count, 60, "no request was answered after the change")
    return load.answered


def test_live_updates_of_batch_limits_and_replica_count_fail_no_request(chorus):
    new_limits = {"max_batch_size": 8, "batch_wait_timeout_s": 0.02}
    (before,) = chorus.replicas("Kokoro")
    try:
        with SteadyLoad(chorus.base_url) as load:
            chorus.wait_for(lambda: load.answered >= 2, 60, "the load did not get going")
            answered = [load.answered]  # at the start and after each update: the load ran through both
            chorus.deploy(chorus.derived(Kokoro={"user_config": new_limits}))
            chorus.wait_for(lambda: chorus.health()["engines"]["kokoro"]["user_config"] == new_limits, 120,
                            "the new user_config did not reach /health")
            (after,) = chorus.replicas("Kokoro")
            assert after["replica_id"] == before["replica_id"], "reconfigured in place, not replaced"
            answered.append(served_since(chorus, load, answered[-1]))

            chorus.deploy(chorus.derived(Kokoro={"user_config": new_limits, "num_replicas": 2}))
            chorus.wait_for(lambda: [r["state"] for r in chorus.replicas("Kokoro")] == ["RUNNING"] * 2, 180,
                            "the second Kokoro replica did not start")
            answered.append(served_since(chorus, load, answered[-1]))
        print(f"\nrequests answered: {answered[0]} before the updates, then {answered[1]}, then {answered[2]}; "
              f"{len(load.failures)} failed")
        assert not load.failures, load.failures[:5]
    finally:
        chorus.deploy(chorus.config)  # as the other tests expect it: one replica, the original limits
        chorus.wait_for(lambda: len(chorus.replicas("Kokoro")) == 1 and chorus.health()["engines"]["kokoro"][
            "user_config"] == chorus.config_of("Kokoro")["user_config"], 180, "the original config did not come back")
