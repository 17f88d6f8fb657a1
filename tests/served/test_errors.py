"""Every bad input is a clear 4xx in OpenAI's error shape, naming the field; none is a 500."""

import base64
import io

import numpy as np
import pytest
import soundfile

from tests.helpers.errors import BAD_SPEECH_REQUESTS, JSON, assert_error
from tests.helpers.served import gateway_over_test_engines


@pytest.mark.parametrize("body, param, words", BAD_SPEECH_REQUESTS)
def test_bad_speech_requests(client, body, param, words):
    assert_error(client.post("/v1/audio/speech", json=body), 400, param, words)


def test_malformed_json(client):
    assert_error(client.post("/v1/audio/speech", content=b'{"input": "hi",', headers=JSON), 400, None, "json")


def test_body_that_is_not_an_object(client):
    assert_error(client.post("/v1/audio/speech", content=b"[1, 2]", headers=JSON), 400, None, "object")


def test_wrong_content_type(client):
    response = client.post("/v1/audio/speech", content=b"input=hi", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(response, 400, None, "content-type")


def test_oversized_body_is_413(client):
    """1 MB for text-only routes; routes that take audio allow a 10 MB clip as base64 (about 13.4 MB)."""
    response = client.post("/synthesize", content=b'{"text": "' + b"a" * (2 << 20) + b'"}', headers=JSON)
    assert_error(response, 413, None, "limit")
    response = client.post("/v1/audio/speech", content=b'{"input": "' + b"a" * (14 << 20) + b'"}', headers=JSON)
    assert_error(response, 413, None, "limit")


def test_unknown_route_and_wrong_method(client):
    assert_error(client.get("/v1/audio/nothing"), 404, None, "not found")
    assert_error(client.get("/v1/audio/speech"), 405, None, "method")


@pytest.mark.parametrize("body, param", [
    ({"text": ""}, "text"),
    ({"text": "hi", "format": "mp3"}, "format"),
    ({"text": "hi", "voice": "nobody"}, "voice"),
    ({"text": "hi", "speed": 2}, "speed"),
    ({}, "text"),
])
def test_bad_simple_requests(client, body, param):
    assert_error(client.post("/synthesize", json=body), 400, param)
    assert_error(client.post("/synthesize/stream", json=body), 400, param)


def test_unavailable_engine_is_503_and_the_gateway_stays_up(client, tmp_path):
    """A Kokoro that cannot load (here: its model cache cannot be created) reports why."""
    from ray import serve

    from deployments.chatterbox.deployment import DEPLOYMENT_NAMES, ChatterboxDeployment
    from deployments.conversion.deployment import ConversionDeployment
    from deployments.kokoro.deployment import KokoroDeployment
    from deployments.kokoro.settings import KokoroSettings

    # A gateway with engines of its own, every one down: that Kokoro, and every Chatterbox model and Conversion
    # without a checkpoint (the engine-sharing helper: small replicas beside the test app, not a second graph).
    small = {"ray_actor_options": {"num_cpus": 0.1}}
    chatterbox = {model: ChatterboxDeployment.options(name=name, **small).bind({"model": model}, str(tmp_path))
                  for model, name in DEPLOYMENT_NAMES.items()}
    engines = {"kokoro": KokoroDeployment.options(**small).bind(KokoroSettings(cache_dir="/dev/null/chorus")),
               **chatterbox, "conversion": ConversionDeployment.options(**small).bind({}, str(tmp_path))}
    serve.run(gateway_over_test_engines({"require_auth": False}, tmp_path, **engines), name="broken",
              route_prefix="/broken")
    health = client.get("/broken/health")
    assert health.status_code == 503
    assert health.json()["engines"]["kokoro"]["status"] == "unavailable"
    assert "/dev/null/chorus" in health.json()["engines"]["kokoro"]["reason"]
    response = client.post("/broken/v1/audio/speech", json={"input": "hi", "voice": "alloy"})
    assert_error(response, 503, None, "unavailable")
    # No Chatterbox checkpoint here either: voice conversion is down too, with its reason.
    conversion = health.json()["engines"]["conversion"]
    assert conversion["status"] == "unavailable" and "checkpoint" in conversion["reason"]
    clip = io.BytesIO()
    soundfile.write(clip, np.sin(np.arange(24_000) / 10), 24_000, format="WAV")
    encoded = base64.b64encode(clip.getvalue()).decode()
    response = client.post("/broken/v1/audio/conversions", json={"audio": encoded, "target_speaker": encoded})
    assert_error(response, 503, None, "conversion is unavailable")
    assert client.get("/health").status_code == 200
    serve.delete("broken")
