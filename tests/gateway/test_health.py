"""/health in-process: ok, degraded, down, and whether the API needs a key.

In-process over fake engines (tests/helpers/gateway.py); the served tier keeps the end-to-end paths.
"""

from __future__ import annotations

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
