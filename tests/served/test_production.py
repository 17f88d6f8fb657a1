"""Authentication, admission control, body limits, timeouts and metrics on the real Serve graph."""

import threading
import time

import httpx
import pytest
from openai import AuthenticationError, OpenAI
from ray import serve

from ingress.auth import BearerKeys, key_digest
from tests.helpers.errors import assert_error
from tests.helpers.served import gateway_over_test_engines

KEY = "chorus-test-key-123"
LONG_TEXT = "The lighthouse keeper climbed the stairs and lit the lamp for the ships. " * 12


@pytest.fixture(scope="module")
def guarded(client, voice_library):
    """A second gateway with keys, one request at a time and a short engine timeout."""
    serve.run(gateway_over_test_engines({"api_key_hashes": [key_digest(KEY)], "max_concurrent_requests": 1,
                                         "request_timeout_s": 3}, voice_library), name="guarded", route_prefix="/guarded")
    yield client
    serve.delete("guarded")


AUTH = {"Authorization": f"Bearer {KEY}"}


def test_missing_and_wrong_keys_are_401(guarded):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": "Basic abc"}):
        response = guarded.post("/guarded/v1/audio/speech", json={"input": "Hi."}, headers=headers)
        assert_error(response, 401, None, "api key")
        assert response.headers["www-authenticate"] == "Bearer"
    assert_error(guarded.get("/guarded/v1/models"), 401, None, "api key")


def test_health_is_open_and_a_good_key_works(guarded, base_url, tls_context):
    assert guarded.get("/guarded/health").status_code == 200
    response = guarded.post("/guarded/v1/audio/speech", json={"input": "Hi.", "response_format": "wav"}, headers=AUTH)
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    openai = OpenAI(base_url=f"{base_url}/guarded/v1", api_key=KEY, http_client=httpx.Client(verify=tls_context))
    assert openai.audio.speech.create(model="tts-1", voice="alloy", input="Hi.").content[:3] in (b"ID3", b"\xff\xf3")
    with pytest.raises(AuthenticationError):
        OpenAI(base_url=f"{base_url}/guarded/v1", api_key="nope",
               http_client=httpx.Client(verify=tls_context)).audio.speech.create(model="tts-1", voice="alloy", input="Hi.")


def test_past_capacity_is_a_clean_503_with_retry_after(guarded):
    first_started = threading.Event()

    def long_stream():
        with guarded.stream("POST", "/guarded/v1/audio/speech", headers=AUTH,
                            json={"input": LONG_TEXT[:400], "response_format": "pcm"}) as response:
            for _ in response.iter_raw():
                first_started.set()

    worker = threading.Thread(target=long_stream)
    worker.start()
    assert first_started.wait(60)
    response = guarded.post("/guarded/v1/audio/speech", json={"input": "Hi."}, headers=AUTH)
    assert_error(response, 503, None, "capacity")
    assert response.headers["retry-after"] == "2"
    worker.join(120)
    assert guarded.post("/guarded/v1/audio/speech", json={"input": "Hi."}, headers=AUTH).status_code == 200


def test_engine_timeout_is_504(guarded):
    # About four sentences: well past the 3 s limit, and little work left for the (shared) Kokoro after it.
    response = guarded.post("/guarded/v1/audio/speech", headers=AUTH,
                            json={"input": LONG_TEXT[:300], "stream": False, "response_format": "wav"})
    assert_error(response, 504, None, "did not answer")
    # The timed-out request's pieces leave the shared Kokoro's queue, so later tests do not wait behind them.
    deadline = time.monotonic() + 30
    while guarded.get("/guarded/health").json()["engines"]["kokoro"]["queued_pieces"]:
        assert time.monotonic() < deadline, "Kokoro kept rendering for the timed-out request"
        time.sleep(0.1)


def test_chunked_body_over_the_limit_is_413(client):
    def body():
        yield b'{"text": "'
        for _ in range(64):
            yield b"a" * 32768
        yield b'"}'

    response = client.post("/synthesize", content=body(), headers={"Content-Type": "application/json"})
    assert_error(response, 413, None, "limit")


def test_key_digests_from_the_environment(monkeypatch):
    monkeypatch.setenv("TEST_KEYS", f"{key_digest('a')}, {key_digest('b')}")
    keys = BearerKeys.from_settings([], "TEST_KEYS")
    assert keys.allows("Bearer a") and keys.allows("bearer b") and not keys.allows("Bearer c")
    assert not BearerKeys.from_settings([], "UNSET_VARIABLE").enabled


def test_chorus_metrics_are_exported(client, metrics_port):
    client.post("/v1/audio/speech", json={"input": "Counting audio.", "voice": "jm_kumo"})
    client.post("/v1/audio/speech", json={"input": ""})
    wanted = ("ray_chorus_audio_seconds", "ray_chorus_time_to_first_audio_seconds_bucket",
              "ray_chorus_real_time_factor_bucket", "ray_chorus_errors", "ray_chorus_queue_depth")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        if all(name in text for name in wanted):
            break
        time.sleep(2)
    missing = [name for name in wanted if name not in text]
    assert not missing, missing
    assert 'engine="kokoro"' in text


def test_responses_carry_a_request_id(client):
    first, second = client.get("/v1/models"), client.get("/v1/models")
    assert first.headers["x-request-id"] and first.headers["x-request-id"] != second.headers["x-request-id"]
