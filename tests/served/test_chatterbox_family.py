"""The Chatterbox family served end to end: the original, Turbo and Multilingual, each its own deployment on
its random-weight checkpoint, reached over HTTP (streamed and whole), a job and the WebSocket, with the
checkpoint's voice and with one voice cloned once for all three.

Random weights make noise: these tests check that each model answers with audio of the right shape, not
what it says. In process over fake engines: tests/gateway/test_chatterbox_models.py.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from websockets.asyncio.client import connect

from deployments.chatterbox.protocol import CHATTERBOX_MODELS, MULTILINGUAL, TURBO
from tests.helpers.audio import decode, wav_bytes
from tests.helpers.jobs import run_to_end
from tests.helpers.stream_input import PATH, pcm
from tests.helpers.voices import clone

pytestmark = pytest.mark.usefixtures("chatterbox_family")

MODELS = list(CHATTERBOX_MODELS)
# The original's HTTP and job paths have their own served tests (test_voices_api.py, test_jobs.py).
NEW_MODELS = [TURBO, MULTILINGUAL]
LANGUAGE = {MULTILINGUAL: "de"}  # the language each model is asked for (none: English)


def speech(client, model: str, **fields):
    body = {"model": model, "input": "Hello there.", **({"language": LANGUAGE[model]} if model in LANGUAGE else {}),
            **fields}
    return client.post("/v1/audio/speech", json=body)


def test_every_model_is_ready_and_listed(client):
    health = client.get("/health").json()["engines"]
    models = {card["id"]: card for card in client.get("/v1/models").json()["data"]}
    for model in MODELS:
        assert health[model]["status"] == "ready", health[model]
        assert models[model]["ready"] is True and models[model]["engine"] == model
    assert health[TURBO]["batching"]["t3_rows_per_step"] >= 1


@pytest.mark.parametrize("model", NEW_MODELS)
def test_each_model_speaks_whole_and_streamed(client, model):
    whole = speech(client, model, response_format="wav", stream=False, seed=3)
    assert whole.status_code == 200, whole.text
    audio, rate = decode(whole.content)
    assert rate == 24_000 and len(audio) > 0.1 * rate
    with client.stream("POST", "/v1/audio/speech", json={
            "model": model, "input": "Hello there. Bye now.", "response_format": "pcm", "chunk_size": 2,
            **({"language": LANGUAGE[model]} if model in LANGUAGE else {})}) as streamed:
        assert streamed.status_code == 200
        pieces = [piece for piece in streamed.iter_bytes() if piece]
    assert sum(map(len, pieces)) > 0.2 * 24_000 * 2  # two chunks of 16-bit audio


@pytest.mark.parametrize("model", NEW_MODELS)
def test_each_model_speaks_in_a_job(client, model):
    status = run_to_end(client, {"operation": "tts", "mode": "basic", "text": "Hello there.", "model": model,
                                 **({"language": LANGUAGE[model]} if model in LANGUAGE else {})})
    assert status["status"] == "COMPLETED", status
    assert status["output"]["model"] == model
    assert base64.b64decode(status["output"]["audio"])[:4] == b"RIFF"


@pytest.mark.parametrize("model", MODELS)
def test_each_model_speaks_on_the_websocket(base_url, tls_context, model, cloned_voice):
    query = f"model_id={model}&output_format=pcm_24000" + (f"&language_code={LANGUAGE[model]}"
                                                           if model in LANGUAGE else "")
    url = base_url.replace("https://", "wss://", 1) + PATH.format(voice=cloned_voice) + "?" + query

    async def talk() -> list[dict]:
        async with connect(url, ssl=tls_context, max_size=None) as ws:
            for text in (" ", "Hello there. ", ""):
                await ws.send(json.dumps({"text": text}))
            return [json.loads(raw) async for raw in ws]

    messages = asyncio.run(talk())
    assert messages[-1] == {"isFinal": True} and len(pcm(messages)) > 0.1 * 24_000


@pytest.fixture(scope="module")
def cloned_voice(client) -> str:
    """One voice, cloned once from 8 s of audio (Turbo needs more than 5 s), for every model."""
    response = clone(client, "Family Voice", wav_bytes(8.0))
    assert response.status_code in (200, 201), response.text
    return response.json()["voice_info"]["voice_id"]


def test_a_cloned_voice_speaks_with_every_model(client, cloned_voice):
    for model in MODELS:
        response = speech(client, model, voice=cloned_voice, response_format="wav", stream=False, seed=1)
        assert response.status_code == 200, (model, response.text)
        audio, _ = decode(response.content)
        assert len(audio) > 0


def test_turbo_refuses_a_reference_clip_of_five_seconds_or_less(client):
    response = speech(client, TURBO, reference_audio=base64.b64encode(wav_bytes(3.0)).decode(), stream=False)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "reference_audio" and "5 s" in error["message"]


def test_other_deployments_reach_each_model_through_its_handle(client):
    from ray import serve

    from deployments.chatterbox.deployment import DEPLOYMENT_NAMES
    from deployments.chatterbox.protocol import ChatterboxRequest
    from tests.helpers.settings import APP_NAME

    for model, name in DEPLOYMENT_NAMES.items():
        handle = serve.get_deployment_handle(name, app_name=APP_NAME)
        result = handle.synthesize.remote(ChatterboxRequest("Hello.", language=LANGUAGE.get(model))).result(
            timeout_s=120)
        assert result.sample_rate == 24_000 and len(result.audio) > 0, model
    with pytest.raises(Exception, match="English only"):
        serve.get_deployment_handle(DEPLOYMENT_NAMES[TURBO], app_name=APP_NAME).synthesize.remote(
            ChatterboxRequest("Bonjour.", language="fr")).result(timeout_s=120)
