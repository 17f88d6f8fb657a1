"""Discovery in-process: /v1/models, /v1/audio/voices and /voices.

In-process over fake engines (tests/helpers/gateway.py); the served tier keeps the end-to-end paths.
"""

from __future__ import annotations

from deployments.chatterbox.protocol import CHATTERBOX_MODELS, LANGUAGES
from tests.helpers.errors import assert_error
from tests.helpers.fake_engines import (
    FakeChatterbox,
    FakeKokoro,
)
from tests.helpers.gateway import (
    serve_gateway,
)

# -- discovery: /v1/models, /v1/audio/voices, /voices ----------------------------------------------

def test_models(client):
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert {model["id"]: model["engine"] for model in body["data"]} == {
        "kokoro": "kokoro", "tts-1": "kokoro", "tts-1-hd": "kokoro", "gpt-4o-mini-tts": "kokoro",
        "chatterbox": "chatterbox", "chatterbox-turbo": "chatterbox-turbo",
        "chatterbox-multilingual": "chatterbox-multilingual"}
    assert {model["object"] for model in body["data"]} == {"model"}
    assert all(model["ready"] for model in body["data"])
    cards = {model["id"]: model for model in body["data"]}
    # Each card says what its model speaks, from the engines' parameter sources.
    assert cards["chatterbox-multilingual"]["languages"] == LANGUAGES
    assert cards["chatterbox-multilingual"]["language_field"] == "language"
    assert cards["tts-1"]["language_field"] == "lang_code" and cards["tts-1"]["default_language"] == "a"
    assert cards["chatterbox-turbo"]["tags"] == list(CHATTERBOX_MODELS["chatterbox-turbo"].tags)
    assert "cfg_weight" not in cards["chatterbox-turbo"]["parameters"] and "top_k" in cards["chatterbox-turbo"]["parameters"]
    assert cards["chatterbox"]["language_field"] is None and cards["chatterbox"]["tags"] == []
    # The defaults of the fields it uses are its own: Turbo's temperature is not the original's.
    for model, spec in CHATTERBOX_MODELS.items():
        assert cards[model]["defaults"] == {field: getattr(spec.defaults, field) for field in spec.uses}
    assert cards["chatterbox-turbo"]["defaults"] != cards["chatterbox"]["defaults"]
    assert cards["kokoro"]["defaults"] == {} and cards["kokoro"]["parameters"] == []


def test_models_say_which_are_ready(tmp_path):
    gw = serve_gateway(tmp_path, chatterbox_models={"chatterbox-turbo": FakeChatterbox(
        model="chatterbox-turbo", unavailable="checkpoint_dir data/chatterbox-turbo lacks t3_turbo_v1.safetensors")})
    ready = {model["id"]: model["ready"] for model in gw.client.get("/v1/models").json()["data"]}
    assert ready["chatterbox-turbo"] is False
    assert ready["chatterbox"] and ready["chatterbox-multilingual"] and ready["kokoro"]


def test_openai_voice_listing(client):
    body = client.get("/v1/audio/voices").json()
    assert body == {"voices": ["jf_alpha", "jm_kumo"], "aliases": {"alloy": "jf_alpha", "onyx": "jm_kumo"},
                    "default": "jf_alpha"}


def test_simple_voice_listing(client):
    assert client.get("/voices").json() == {"voices": ["jf_alpha", "jm_kumo"], "default": "jf_alpha"}


def test_voice_listings_when_kokoro_is_down(tmp_path):
    gw = serve_gateway(tmp_path, kokoro=FakeKokoro(unavailable="no model"))
    for path in ("/v1/audio/voices", "/voices"):
        assert_error(gw.client.get(path), 503, None, "Kokoro is unavailable: no model", code="engine_unavailable")
    listing = gw.client.get("/v1/voices")  # the library still lists, without Kokoro's packs
    assert listing.status_code == 200 and listing.json()["voices"] == []
