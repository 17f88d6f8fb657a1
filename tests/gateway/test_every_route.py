"""What every route shares, in-process: JSON bodies, unknown routes and methods, body limits, keys, admission, CORS.

In-process over fake engines (tests/helpers/gateway.py); the served tier keeps the end-to-end paths.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from ingress.auth import BearerKeys, key_digest
from tests.helpers.errors import JSON, assert_error
from tests.helpers.fake_engines import (
    FakeKokoro,
)
from tests.helpers.gateway import (
    CAPTIONED,
    CONVERSIONS,
    SPEECH,
    UNSET_KEYS_ENV,
    cloned,
    serve_gateway,
)

# -- what every route shares: JSON bodies, unknown routes, methods, body limit, auth, admission -----

JSON_ROUTES = [("POST", SPEECH), ("POST", CAPTIONED), ("POST", "/synthesize"), ("POST", "/synthesize/stream"),
               ("POST", "/v1/voices"), ("PATCH", "/v1/voices/{voice_id}"), ("POST", CONVERSIONS)]


@pytest.fixture
def json_route(gw, request) -> tuple[str, str]:
    method, path = request.param
    if "{voice_id}" in path:
        path = path.format(voice_id=cloned(gw.client, "Someone")["voice_id"])
    return method, path


@pytest.mark.parametrize("body", [b"[1, 2]", b"null", b'"hi"'])
@pytest.mark.parametrize("json_route", JSON_ROUTES, indirect=True, ids=[" ".join(route) for route in JSON_ROUTES])
def test_json_bodies_that_are_not_objects_say_so(client, json_route, body):
    """One wording on every JSON route, as describe_validation_error words it for FastAPI's own parsing."""
    method, path = json_route
    assert_error(client.request(method, path, content=body, headers=JSON), 400, None, "JSON object")


@pytest.mark.parametrize("json_route", JSON_ROUTES, indirect=True, ids=[" ".join(route) for route in JSON_ROUTES])
def test_an_empty_json_body_is_named_as_such(client, json_route):
    method, path = json_route
    error = assert_error(client.request(method, path, content=b"", headers=JSON), 400, None, "body")
    assert "'None'" not in error["message"]


def test_unknown_route_and_wrong_method(client):
    assert_error(client.get("/v1/audio/nothing"), 404, None, "not found")
    response = client.get(SPEECH)
    assert_error(response, 405, None, "method")
    assert response.headers["allow"] == "POST"
    assert_error(client.put("/v1/voices"), 405, None, "method")
    assert_error(client.post("/health"), 405, None, "method")


@pytest.mark.parametrize("method, path", [("POST", "/run"), ("POST", "/runsync"), ("GET", "/status/abc"),
                                          ("POST", "/cancel/abc")])
def test_job_routes_are_absent_when_jobs_are_off(client, method, path):
    assert_error(client.request(method, path, json={"input": {}}), 404, None, "not found")


def test_openapi_lists_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {SPEECH, CAPTIONED, "/v1/models", "/v1/audio/voices", "/voices", "/synthesize", "/synthesize/stream",
            "/v1/voices", "/v1/voices/{voice}", "/v1/voices/{voice}/audio", CONVERSIONS, "/health"} <= set(paths)
    assert "/run" not in paths


def test_oversized_body_is_413(gw):
    """1 MB for text-only routes; routes that take audio allow a 10 MB clip as base64 (about 13.4 MB)."""
    response = gw.client.post("/synthesize", content=b'{"text": "' + b"a" * (2 << 20) + b'"}', headers=JSON)
    assert_error(response, 413, None, "limit", code="request_too_large")
    response = gw.client.post(SPEECH, content=b'{"input": "' + b"a" * (14 << 20) + b'"}', headers=JSON)
    assert_error(response, 413, None, "limit", code="request_too_large")
    # 2 MB passes the larger limit of an audio route; the input limit then refuses it.
    response = gw.client.post(SPEECH, content=b'{"input": "' + b"a" * (2 << 20) + b'"}', headers=JSON)
    assert_error(response, 400, "input", "limit")
    assert gw.kokoro.calls == []


def test_oversized_chunked_body_is_413(client):
    def chunks():
        yield b'{"text": "'
        for _ in range(3):
            yield b"a" * (512 << 10)
        yield b'"}'

    assert_error(client.post("/synthesize", content=chunks(), headers=JSON), 413, None, "limit")

    def small():
        yield b'{"text": "Hi.", '
        yield b'"voice": "jm_kumo"}'

    assert client.post("/synthesize", content=small(), headers=JSON).status_code == 200


def test_bearer_keys(tmp_path):
    gw = serve_gateway(tmp_path, keys=BearerKeys([key_digest("open sesame")]))
    response = gw.client.get("/v1/models")
    assert_error(response, 401, None, "api key", code="invalid_api_key")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_error(gw.client.get("/v1/models", headers={"Authorization": "Bearer wrong"}), 401, None, "api key")
    assert_error(gw.client.post(SPEECH, json={"input": "hi"}, headers={"Authorization": "Basic open sesame"}), 401)
    assert gw.kokoro.calls == []
    assert gw.client.get("/v1/models", headers={"Authorization": "Bearer open sesame"}).status_code == 200
    assert gw.client.get("/health").status_code == 200  # probes need no key


def test_no_keys_from_an_unset_environment_variable():
    assert not BearerKeys.from_settings([], UNSET_KEYS_ENV).enabled


def test_admission_limit_is_503_with_retry_after(tmp_path):
    gw = serve_gateway(tmp_path, kokoro=FakeKokoro(delay_s=0.3), max_concurrent_requests=1, retry_after_s=7)

    async def two_at_once():
        transport = httpx.ASGITransport(app=gw.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            body = {"text": "Hi.", "voice": "jm_kumo"}
            first = asyncio.create_task(http.post("/synthesize", json=body))
            await asyncio.sleep(0.1)
            second = await http.post("/synthesize", json=body)
            health = await http.get("/health")  # probes are not admitted against the limit
            return await first, second, health

    first, second, health = asyncio.run(two_at_once())
    assert first.status_code == 200
    assert_error(second, 503, None, "capacity", code="server_overloaded")
    assert second.headers["retry-after"] == "7"
    assert health.status_code == 200


# -- browsers and newer OpenAI clients ------------------------------------------------------------

def test_cors_preflight_and_headers_for_allowed_origins_only(tmp_path):
    served = serve_gateway(tmp_path, cors_allowed_origin_regex=r"^http://localhost(:[0-9]+)?$",
                           keys=BearerKeys([key_digest("k")]))
    preflight = served.client.options(SPEECH, headers={"Origin": "http://localhost:5173",
                                                       "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 200  # answered before authentication: a preflight carries no key
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    refused = served.client.options(SPEECH, headers={"Origin": "http://evil.example",
                                                     "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in refused.headers
    # An error a browser page gets back is readable by it: CORS headers on the 401 too.
    unauthorized = served.client.post(SPEECH, json={"input": "hi"}, headers={"Origin": "http://localhost:5173"})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["access-control-allow-origin"] == "http://localhost:5173"


def test_without_configured_origins_there_is_no_cors(client):
    preflight = client.options(SPEECH, headers={"Origin": "http://localhost:5173",
                                                "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 405 and "access-control-allow-origin" not in preflight.headers


def test_a_client_over_its_share_gets_a_429_and_the_others_are_served(tmp_path):
    gw = serve_gateway(tmp_path, kokoro=FakeKokoro(delay_s=0.3), max_concurrent_requests=4,
                       max_concurrent_per_client=2, retry_after_s=3)

    async def from_(address: str, count: int) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=gw.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            return await asyncio.gather(*(http.post("/synthesize", json={"text": "Hi.", "voice": "jm_kumo"})
                                          for _ in range(count)))

    async def both():
        return await asyncio.gather(from_("127.0.0.2", 3), from_("127.0.0.3", 2))

    greedy, polite = asyncio.run(both())
    assert sorted(r.status_code for r in greedy) == [200, 200, 429]
    (refused,) = [r for r in greedy if r.status_code == 429]
    assert_error(refused, 429, None, "its share", code="client_over_share")
    assert refused.headers["retry-after"] == "3"
    assert [r.status_code for r in polite] == [200, 200]  # a second address is a client of its own


def test_each_api_key_is_a_client_of_its_own_wherever_it_comes_from(tmp_path):
    keys = BearerKeys([key_digest("alice"), key_digest("bob")])
    gw = serve_gateway(tmp_path, kokoro=FakeKokoro(delay_s=0.3), keys=keys, max_concurrent_requests=8,
                       max_concurrent_per_client=1)

    async def send(key: str, address: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=gw.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            return await http.post("/synthesize", json={"text": "Hi.", "voice": "jm_kumo"},
                                   headers={"Authorization": f"Bearer {key}"})

    async def all_at_once():
        return await asyncio.gather(send("alice", "10.0.0.1"), send("alice", "10.0.0.2"), send("bob", "10.0.0.1"))

    alice_one, alice_two, bob = asyncio.run(all_at_once())
    assert sorted((alice_one.status_code, alice_two.status_code)) == [200, 429]  # one key, two addresses: one client
    assert bob.status_code == 200


def test_usage_is_counted_per_client_by_a_digest_never_the_key(tmp_path, monkeypatch):
    from operations import metrics

    usage = []
    for name in ("client_characters", "client_audio_seconds"):
        monkeypatch.setattr(getattr(metrics, name), "inc",
                            lambda value=1.0, tags=None, name=name: usage.append((name, value, tags)))
    gw = serve_gateway(tmp_path, keys=BearerKeys([key_digest("alice")]))
    response = gw.client.post("/v1/audio/speech", json={"input": "Hello there.", "response_format": "pcm"},
                              headers={"Authorization": "Bearer alice"})
    assert response.status_code == 200
    clients = {tags["client"] for _, _, tags in usage}
    assert len(clients) == 1 and (client := clients.pop()).startswith("key:") and "alice" not in client
    assert client == "key:" + key_digest("alice")[:16]
    characters = sum(value for name, value, _ in usage if name == "client_characters")
    seconds = sum(value for name, value, _ in usage if name == "client_audio_seconds")
    assert characters == len("Hello there.") and seconds == pytest.approx(len(response.content) / 2 / 24_000)
