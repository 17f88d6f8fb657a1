"""Every front end reaches every Chatterbox model, in-process over fake engines (tests/helpers/gateway.py):
the model each request names, its defaults, its language, and the errors when they do not fit.

The served tier (tests/served/test_chatterbox_family.py) speaks with each model on its random weights.
"""

from __future__ import annotations

import asyncio
import base64

import pytest

from deployments.chatterbox.protocol import CHATTERBOX_MODELS, LANGUAGES, MULTILINGUAL, TURBO, ChatterboxParams
from ingress.jobs.settings import JobsSettings
from ingress.jobs.worker import JobWorker
from stores.voice_library.settings import VoiceLibrarySettings
from tests.helpers.errors import assert_error
from tests.helpers.fake_engines import FakeChatterbox, FakeConversion, FakeKokoro, chatterbox_family, fake_handles
from tests.helpers.gateway import cloned, serve_gateway
from tests.helpers.jobs import RecordedProgress
from tests.helpers.stream_input import PATH, closed_with, until_final

SPEECH = "/v1/audio/speech"


@pytest.fixture
def gw(tmp_path):
    return serve_gateway(tmp_path)


@pytest.mark.parametrize("model", list(CHATTERBOX_MODELS))
def test_each_model_gets_its_own_requests_with_its_own_defaults(gw, model):
    response = gw.client.post(SPEECH, json={"model": model, "input": "Hi there.", "response_format": "pcm",
                                            "temperature": 0.6})
    assert response.status_code == 200, response.text
    for name, fake in gw.chatterbox_models.items():
        assert bool(fake.requests("stream")) == (name == model), name
    (request,) = gw.chatterbox_models[model].requests("stream")
    assert request.params == ChatterboxParams(**{**CHATTERBOX_MODELS[model].defaults.model_dump(), "temperature": 0.6})
    assert gw.kokoro.requests() == []


def test_turbo_defaults_are_its_own():
    turbo = CHATTERBOX_MODELS[TURBO].defaults
    assert (turbo.top_k, turbo.top_p, turbo.temperature, turbo.repetition_penalty) == (1000, 0.95, 0.8, 1.2)
    assert CHATTERBOX_MODELS[MULTILINGUAL].defaults.repetition_penalty == 2.0


def test_multilingual_takes_a_language(gw):
    response = gw.client.post(SPEECH, json={"model": MULTILINGUAL, "input": "Bonjour.", "language": "fr",
                                            "stream": False, "response_format": "wav"})
    assert response.status_code == 200, response.text
    (request,) = gw.chatterbox_models[MULTILINGUAL].requests("synthesize")
    assert request.language == "fr"


@pytest.mark.parametrize("model, language, says", [
    (MULTILINGUAL, "xx", ", ".join(LANGUAGES)),  # every valid code listed
    (TURBO, "fr", "English only"),
    ("chatterbox", "de", "English only"),
    ("kokoro", "fr", "lang_code"),
])
def test_a_language_the_model_does_not_speak_is_a_400_naming_the_field(gw, model, language, says):
    response = gw.client.post(SPEECH, json={"model": model, "input": "Hello.", "language": language})
    assert_error(response, 400, param="language", words=says)
    assert all(fake.requests() == [] for fake in gw.chatterbox_models.values())


def test_an_unavailable_model_is_a_503_naming_it_and_the_others_serve_on(tmp_path):
    reason = "checkpoint_dir data/chatterbox-turbo lacks t3_turbo_v1.safetensors"
    gw = serve_gateway(tmp_path, chatterbox_models={TURBO: FakeChatterbox(model=TURBO, unavailable=reason)})
    response = gw.client.post(SPEECH, json={"model": TURBO, "input": "Hello."})
    assert_error(response, 503, words="Chatterbox Turbo is unavailable")
    assert gw.client.post(SPEECH, json={"model": MULTILINGUAL, "input": "Hello."}).status_code == 200
    assert gw.client.post(SPEECH, json={"model": "chatterbox", "input": "Hello."}).status_code == 200


@pytest.mark.parametrize("model_id, websocket_models, engine", [
    ("chatterbox-turbo", {}, TURBO),
    ("eleven_turbo_v2_5", {"eleven_turbo_v2_5": TURBO}, TURBO),
    ("eleven_multilingual_v2", {"eleven_multilingual_v2": MULTILINGUAL}, MULTILINGUAL),
    ("eleven_multilingual_v2", {}, "kokoro"),  # an eleven_* id not in the map speaks with Kokoro
])
def test_the_websocket_model_id_reaches_each_model(tmp_path, model_id, websocket_models, engine):
    app = serve_gateway(tmp_path, websocket_models=websocket_models)
    voice = "jf_alpha" if engine == "kokoro" else cloned(app.client, "Narrator")["voice_id"]
    language = "&language_code=de" if engine == MULTILINGUAL else ""
    with app.client.websocket_connect(PATH.format(voice=voice) + f"?model_id={model_id}{language}") as ws:
        ws.send_json({"text": "One sentence. ", "flush": True})
        ws.send_json({"text": ""})
        assert any(m.get("audio") for m in until_final(ws))
    spoken = app.kokoro if engine == "kokoro" else app.chatterbox_models[engine]
    assert app.texts(spoken) == ["One sentence."]
    if engine == MULTILINGUAL:
        assert spoken.requests("stream")[0].language == "de"


def test_a_websocket_language_code_the_model_does_not_speak_is_refused(tmp_path):
    app = serve_gateway(tmp_path)
    voice = cloned(app.client, "Narrator")["voice_id"]
    with app.client.websocket_connect(PATH.format(voice=voice) + f"?model_id={MULTILINGUAL}&language_code=xx") as ws:
        ws.send_json({"text": "One sentence. ", "flush": True})
        error, code = closed_with(ws)
    assert "language_code is one of" in error["message"] and code != 1000


def test_a_websocket_language_code_is_a_hint_the_other_models_ignore(tmp_path):
    app = serve_gateway(tmp_path)
    with app.client.websocket_connect(PATH.format(voice="jf_alpha") + "?model_id=eleven_flash_v2_5&language_code=fr") as ws:
        ws.send_json({"text": "One sentence. ", "flush": True})
        ws.send_json({"text": ""})
        assert any(m.get("audio") for m in until_final(ws))
    assert app.texts() == ["One sentence."]


def test_a_tts_job_names_its_model_and_language(tmp_path):
    models = chatterbox_family(FakeChatterbox())
    worker = JobWorker(fake_handles(FakeKokoro(), models, FakeConversion()),
                       JobsSettings(redis_url="redis://127.0.0.1:1/0"), VoiceLibrarySettings(root=tmp_path / "voices"))
    output = asyncio.run(worker.dialect.run(
        {"operation": "tts", "mode": "basic", "text": "Guten Tag.", "model": MULTILINGUAL, "language": "de",
         "cfg_weight": 0.2}, RecordedProgress()))
    assert base64.b64decode(output["audio"])[:4] == b"RIFF" and output["model"] == MULTILINGUAL
    (request,) = models[MULTILINGUAL].requests("synthesize")
    assert request.language == "de" and request.params.cfg_weight == 0.2
    assert request.params.repetition_penalty == 2.0  # Multilingual's own default, not the original's
