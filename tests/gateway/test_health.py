"""/health in-process: ok, degraded, down, and whether the API needs a key.

In-process over fake engines (tests/helpers/gateway.py); the served tier keeps the end-to-end paths.
"""

from __future__ import annotations

from collections import Counter

from ingress.auth import BearerKeys, key_digest
from ingress.system import router as system_router
from tests.helpers.fake_engines import (
    FakeChatterbox,
    FakeConversion,
    FakeKokoro,
)
from tests.helpers.gateway import (
    serve_gateway,
)

# -- /health --------------------------------------------------------------------------------------

def test_health_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["engines"]) == {"kokoro", "chatterbox", "chatterbox-turbo", "chatterbox-multilingual",
                                   "conversion"}
    assert {engine["status"] for engine in body["engines"].values()} == {"ready"}
    assert body["engines"]["kokoro"]["engine"] == "kokoro" and body["engines"]["kokoro"]["reason"] is None
    assert body["auth_required"] is False


def test_health_says_when_the_api_needs_a_key(tmp_path):
    keyed = serve_gateway(tmp_path, keys=BearerKeys([key_digest("k")]))
    response = keyed.client.get("/health")  # open, as a probe needs it
    assert response.status_code == 200 and response.json()["auth_required"] is True


def test_health_degraded_when_chatterbox_is_unavailable(tmp_path):
    reason = "no Chatterbox checkpoint configured (set checkpoint_dir or hub_repo)"
    gw = serve_gateway(tmp_path, chatterbox=FakeChatterbox(unavailable=reason))
    response = gw.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["engines"]["chatterbox"]["status"] == "unavailable"
    assert body["engines"]["chatterbox"]["reason"] == reason
    assert body["engines"]["kokoro"]["status"] == "ready"


def test_health_503_when_every_engine_is_down(tmp_path, monkeypatch):
    monkeypatch.setattr(system_router, "HEALTH_TIMEOUT_S", 0.05)
    gw = serve_gateway(tmp_path, kokoro=FakeKokoro(unavailable="no model"),
                       chatterbox=FakeChatterbox(broken=ConnectionError("gone")),
                       chatterbox_models={model: FakeChatterbox(model=model, unavailable="no checkpoint")
                                          for model in ("chatterbox-turbo", "chatterbox-multilingual")},
                       conversion=FakeConversion(delay_s=5))
    response = gw.client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    engines = body["engines"]
    assert {engine["status"] for engine in engines.values()} == {"unavailable"}
    assert engines["kokoro"]["reason"] == "no model"
    assert engines["chatterbox"]["reason"] == "Engine unreachable: ConnectionError"
    assert engines["conversion"]["reason"] == "health check timed out"


class ReplicaStates:
    """The replica counts a test sets, by deployment (None: they cannot be read); every other deployment has
    one running. (The served tier's tests/served/test_scale_to_zero.py reads the real controller's.)"""

    def __init__(self, **states: dict[str, int] | None):
        self.states_by_deployment = states
        self.asked: list[tuple[str, str]] = []

    async def states(self, app: str, deployment: str) -> Counter[str] | None:
        self.asked.append((app, deployment))
        states = self.states_by_deployment.get(deployment.replace("-", "_"), {"RUNNING": 1})
        return None if states is None else Counter(states)


def test_an_engine_with_no_replica_running_is_reported_from_the_counts_without_a_call(tmp_path):
    replicas = ReplicaStates(chatterbox_turbo={}, conversion={"STARTING": 1}, chatterbox_multilingual=None)
    gw = serve_gateway(tmp_path, replicas=replicas)

    response = gw.client.get("/health")

    assert response.status_code == 200
    engines = response.json()["engines"]
    assert engines["chatterbox-turbo"]["status"] == "idle" and "scaled to zero" in engines["chatterbox-turbo"]["reason"]
    assert engines["conversion"]["status"] == "starting"
    assert engines["kokoro"]["status"] == engines["chatterbox"]["status"] == "ready"
    assert response.json()["status"] == "degraded"  # idle is not ready: nothing is known of its weights yet
    assert "health" not in gw.chatterbox_models["chatterbox-turbo"].methods()
    assert "health" not in gw.conversion.methods()
    assert "health" in gw.kokoro.methods()
    # Counts that cannot be read: the engine is asked, as without counts.
    assert engines["chatterbox-multilingual"]["status"] == "ready"
    assert "health" in gw.chatterbox_models["chatterbox-multilingual"].methods()
    assert ("fakes", "chatterbox-turbo") in replicas.asked


def test_models_say_which_engine_is_idle_and_a_request_still_reaches_it(tmp_path):
    gw = serve_gateway(tmp_path, replicas=ReplicaStates(chatterbox_turbo={}))
    cards = {card["id"]: card for card in gw.client.get("/v1/models").json()["data"]}
    assert cards["chatterbox-turbo"]["status"] == "idle" and cards["chatterbox-turbo"]["ready"] is False
    assert cards["kokoro"]["status"] == "ready" and cards["kokoro"]["ready"] is True

    response = gw.client.post("/v1/audio/speech", json={"model": "chatterbox-turbo", "input": "Hello there.",
                                                        "response_format": "wav"})

    assert response.status_code == 200, response.text
    assert "stream" in gw.chatterbox_models["chatterbox-turbo"].methods()
