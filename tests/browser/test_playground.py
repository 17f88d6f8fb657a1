"""The playground (ingress/web/) in a real browser: Debian's chromium driven by Playwright.

Against the session's Serve app over HTTPS (Kokoro on ONNX CPU, Chatterbox on random weights),
plus a second app without a Chatterbox checkpoint under /plain/. The page exposes what it played
in `window.playground.last` (decoded duration, when playback started, when the response ended).
The page and /docs keep their strict Content-Security-Policy in the browser: a test fails on any
violation, and waits poll with page.evaluate (Playwright's wait_for_function would need 'unsafe-eval').
`make test` installs chromium (the Makefile's `browser` target). The page's screenshot goes to the
test's temporary directory (docs/playground.png, in the README, is a copy of one).
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import httpx
import pytest

from ingress.auth import BearerKeys, key_digest
from ingress.web.docs import content_security_policy
from ingress.web.router import CONTENT_SECURITY_POLICY
from tests.helpers.fake_engines import FakeKokoro, MidStreamFailingKokoro
from tests.helpers.gateway import serve_gateway
from tests.helpers.served import gateway_over_test_engines
from tests.helpers.voices import clone, kokoro_clip

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--autoplay-policy=no-user-gesture-required"]
PLAIN = "plain"
PLAIN_KEY = "playground-key"
# Two sentences: Kokoro streams them piece by piece, so the first plays before the response ends.
TEXT = "The playground plays speech while it is still being made. Each sentence is heard as it arrives."
# The model picker's entries, one per engine, in /v1/models's order.
CHATTERBOX_ENGINES = ["chatterbox", "chatterbox-turbo", "chatterbox-multilingual"]
ENGINES = ["kokoro", *CHATTERBOX_ENGINES]
KOKORO_LANG_CODES = ["a", "b", "e", "f", "h", "i", "j", "p", "z"]
MULTILINGUAL_LANGUAGES = ["ar", "da", "de", "el", "en", "es", "fi", "fr", "he", "hi", "it", "ja", "ko", "ms", "nl",
                          "no", "pl", "pt", "ru", "sv", "sw", "tr", "zh"]
TURBO_TAGS = ["[laugh]", "[chuckle]", "[cough]", "[sigh]", "[gasp]", "[groan]", "[sniff]", "[shush]",
              "[clear throat]"]


# -- in process: what the gateway serves, with API keys on ----------------------------------------

def test_page_and_static_files_need_no_key_but_the_api_does(tmp_path):
    served = serve_gateway(tmp_path, keys=BearerKeys([key_digest("k")]))
    http = served.client
    for path in ("/", "/web"):
        page = http.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert 'src="web/static/app.js"' in page.text  # relative: it works under a route prefix too
    assert http.get("/web/", follow_redirects=False).headers["location"] == "../web"
    script = http.get("/web/static/app.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert http.get("/web/static/playground.css").headers["content-type"].startswith("text/css")
    assert http.get("/web/static/missing.js", headers={"Authorization": "Bearer k"}).status_code == 404
    assert http.get("/web/static/nope.js").status_code == 401  # only the shipped files are open
    assert http.get("/v1/voices").status_code == 401
    assert http.get("/v1/voices", headers={"Authorization": "Bearer k"}).status_code == 200


def test_the_page_its_files_and_the_docs_have_a_strict_content_security_policy(tmp_path):
    http = serve_gateway(tmp_path).client
    policy = dict(directive.split(" ", 1) for directive in CONTENT_SECURITY_POLICY.split("; "))
    assert policy["default-src"] == policy["script-src"] == policy["style-src"] == "'self'"
    assert policy["object-src"] == policy["base-uri"] == "'none'" and "unsafe" not in CONTENT_SECURITY_POLICY
    for path in ("/", "/web", "/web/static/app.js", "/web/static/playback.js", "/web/static/playground.css"):
        response = http.get(path)
        assert response.status_code == 200 and response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY

    # /docs: Swagger UI from the gateway itself, nothing from a CDN; its one inline script is allowed by its hash.
    docs = http.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    docs_policy = docs.headers["content-security-policy"]
    assert docs_policy == content_security_policy(docs.text) and "unsafe" not in docs_policy
    assert re.search(r"script-src 'self' 'sha256-[A-Za-z0-9+/]+=*';", docs_policy)
    assert "https://" not in docs.text
    for name, media_type in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css"),
                             ("favicon.png", "image/png")):
        asset = http.get(f"/docs/static/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(media_type)
        assert f"/docs/static/{name}" in docs.text and asset.headers["content-security-policy"]
    assert http.get("/docs/static/redoc.standalone.js").status_code == 404  # only what the page uses
    assert http.get("/redoc").status_code == 404  # FastAPI's CDN page is off


# -- in the browser -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` (run by `make test`) installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        yield launched
        launched.close()


# Before any script of the page: record what the Content-Security-Policy refused, and how many animation
# frames the playground's own modules have asked for and not had yet (`most`: the most at once).
WATCH_THE_PAGE = r"""
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (event) => window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));
window.playgroundFrames = { pending: 0, most: 0 };
const requestFrame = window.requestAnimationFrame.bind(window);
window.requestAnimationFrame = (callback) => {
  if (!/\/web\/static\//.test(new Error().stack)) return requestFrame(callback);
  const frames = window.playgroundFrames;
  frames.most = Math.max(frames.most, ++frames.pending);
  return requestFrame((time) => {
    frames.pending -= 1;
    callback(time);
  });
};
"""


@pytest.fixture
def page(browser):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 820})
    context.add_init_script(WATCH_THE_PAGE)
    opened = context.new_page()
    uncaught: list[str] = []
    opened.on("pageerror", lambda error: uncaught.append(str(error)))
    yield opened
    refused = opened.evaluate("window.cspViolations || []")
    context.close()
    assert uncaught == [], f"the page threw: {uncaught}"
    assert refused == [], f"the Content-Security-Policy refused: {refused}"


def wait_for(page, expression: str, timeout: float = 10, arg=None):
    """Polls page.evaluate(expression, arg) until it is truthy, and returns that value."""
    deadline = time.monotonic() + timeout
    while not (value := page.evaluate(expression, arg)):
        assert time.monotonic() < deadline, f"not true within {timeout} s: {expression}"
        time.sleep(0.05)
    return value


def open_playground(page, url: str):
    page.goto(url)
    wait_for(page, "document.documentElement.dataset.ready === 'true'", timeout=30)


def last(page) -> dict:
    return page.evaluate("window.playground.last")


def api_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


@pytest.fixture(scope="module")
def reference_clip(client, tmp_path_factory) -> Path:
    """About 7 s of Kokoro speech, long enough to clone from."""
    path = tmp_path_factory.mktemp("playground") / "reference.wav"
    path.write_bytes(kokoro_clip(client, "jm_kumo"))
    return path


@pytest.fixture(scope="module")
def cloned_voice(client, reference_clip, chatterbox_checkpoint):  # cloning speaks with Chatterbox
    response = clone(client, "Playground Voice", reference_clip.read_bytes(), gender="male",
                     description="cloned by tests/browser/test_playground.py")
    assert response.status_code == 201, response.text
    info = response.json()["voice_info"]
    yield info
    client.delete(f"/v1/voices/{info['voice_id']}")  # a no-op when the test deleted it


def test_kokoro_speech_streams_into_web_audio(page, base_url, client, cloned_voice, tmp_path):
    open_playground(page, f"{base_url}/")
    assert page.get_attribute('#engines [data-engine="kokoro"]', "data-status") == "ready"
    kokoro = client.get("/v1/audio/voices").json()
    offered = page.eval_on_selector_all("#voice-picker option", "options => options.map(o => o.value)")
    assert set(kokoro["voices"]) | set(kokoro["aliases"]) <= set(offered)
    assert page.input_value("#voice") == kokoro["default"]

    assert page.is_hidden("#key-form")  # this app asks for no key

    page.select_option("#voice-picker", "jm_kumo")
    page.fill("#input", TEXT)
    with page.expect_response(re.compile(r"/v1/audio/speech$")) as answered:
        page.click("#speak-button")
    response = answered.value
    body = response.request.post_data_json
    assert body["voice"] == "jm_kumo" and body["response_format"] == "pcm" and body["stream"] is True
    wait_for(page, "['playing', 'played'].includes(window.playground.last?.state)", timeout=60)
    played = last(page)

    # All of it was decoded (every byte the gateway sent), and it is plausible for the text.
    assert response.status == 200 and response.headers["content-type"] == "audio/pcm"
    assert played["bytes"] == len(response.body()) > 0
    assert abs(played["decodedSeconds"] - played["bytes"] / 2 / 24_000) < 1e-6
    words = len(TEXT.split())
    assert 0.15 * words < played["decodedSeconds"] < 1.0 * words, played
    assert played["peak"] > 0.05 and played["chunks"] >= 2, played
    # Streamed: the first chunk was playing before the last byte of the response came in.
    assert played["playbackStartedAt"] < played["responseEndedAt"], played
    assert played["playedAtResponseEnd"] > 0, played
    wait_for(page, "window.playground.last.playedSeconds > 0.5")
    assert page.get_attribute("#playback", "data-state") in ("playing", "played")
    # One animation loop moves the meter (and the caption highlight): never two frames asked for at once.
    assert page.evaluate("window.playgroundFrames.most") == 1

    assert not page.is_disabled("#download-button")
    with page.expect_download() as download:
        page.click("#download-button")
    wav = Path(download.value.path()).read_bytes()
    assert wav[:4] == b"RIFF" and abs((len(wav) - 44) / 2 / 24_000 - played["decodedSeconds"]) < 0.01

    # The library lists the cloned voice; Chatterbox offers it as a voice.
    assert page.locator(f'#voice-table tr[data-voice-id="{cloned_voice["voice_id"]}"]').count() == 1
    screenshot = tmp_path / "playground.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 20_000
    page.click("#stop-button")
    assert last(page)["state"] in ("stopped", "played")


def test_invalid_fields_show_the_api_message_next_to_their_input(page, base_url, client):
    open_playground(page, f"{base_url}/")
    speech = {"input": "Hello there.", "voice": "jm_kumo", "response_format": "pcm"}

    page.fill("#speed", "9")
    page.click("#speak-button")
    shown = page.wait_for_selector('#speak-form [data-error-for="speed"]:not([hidden])')
    expected = api_error(client.post("/v1/audio/speech", json={**speech, "speed": 9}), 400)
    assert expected["param"] == "speed" and shown.text_content() == expected["message"]
    assert page.get_attribute("#speed", "aria-invalid") == "true"
    assert page.is_hidden('#speak-form [data-error-for="voice"]')
    assert last(page)["state"] == "error" and last(page)["error"]["param"] == "speed"

    page.fill("#speed", "1")
    page.fill("#voice", "nobody_here")
    page.click("#speak-button")
    shown = page.wait_for_selector('#speak-form [data-error-for="voice"]:not([hidden])')
    expected = api_error(client.post("/v1/audio/speech", json={**speech, "voice": "nobody_here"}), 400)
    assert shown.text_content() == expected["message"] and "nobody_here" in expected["message"]
    assert page.is_hidden('#speak-form [data-error-for="speed"]')  # the earlier error is cleared

    # Captions need Kokoro's torch backend; this app runs ONNX and says so.
    page.fill("#voice", "jm_kumo")
    page.check("#captions-toggle")
    with page.expect_request(re.compile(r"/dev/captioned_speech$")):
        page.click("#speak-button")
    shown = page.wait_for_selector('#speak-form [data-error-for="return_timestamps"]:not([hidden])')
    expected = api_error(client.post("/dev/captioned_speech", json=speech), 400)
    assert shown.text_content() == expected["message"] and "torch" in expected["message"]


# -- the parameters: bounds, defaults and formats from /openapi.json -------------------------------

def number_inputs(page) -> dict[str, dict]:
    """The Speak form's number inputs and sliders that are request fields (not the blend's weights)."""
    return page.eval_on_selector_all('#speak-form :is(input[type="number"], input[type="range"])[name]', """
        inputs => Object.fromEntries(inputs.map(input => [input.name, {type: input.type, min: input.min,
            max: input.max, value: input.value, unset: "unset" in input.dataset,
            shown: document.querySelector(`output[for="${input.id}"]`)?.textContent ?? null}]))""")


def test_the_inputs_take_their_bounds_and_defaults_from_the_openapi_document(page, base_url, client):
    document = client.get("/openapi.json").json()
    speech = document["components"]["schemas"]["SpeechRequest"]["properties"]
    open_playground(page, f"{base_url}/")

    inputs = number_inputs(page)
    assert set(inputs) == {"speed", "exaggeration", "cfg_weight", "temperature", "seed"}
    for name, shown in inputs.items():
        field = speech[name]
        bounds = next(type_ for type_ in field.get("anyOf", [field]) if type_.get("type") != "null")
        assert (float(shown["min"]), float(shown["max"])) == (bounds["minimum"], bounds["maximum"]), name
        if field.get("default") is not None:
            assert float(shown["value"]) == field["default"] and not shown["unset"], name
        elif shown["type"] == "range":  # no default in the document: the model's own, until it is moved
            assert shown["unset"] and shown["shown"].endswith("(model default)"), name
        else:
            assert shown["value"] == "", name
    # An unmoved slider stands at the chosen model's default, as its /v1/models card says.
    card = next(card for card in client.get("/v1/models").json()["data"] if card["id"] == "chatterbox")
    assert card["ready"] and set(card["defaults"]) == set(card["parameters"]) >= {"exaggeration", "temperature"}
    page.select_option("#model", "chatterbox")
    sliders = number_inputs(page)
    for name in ("exaggeration", "cfg_weight", "temperature"):
        assert float(sliders[name]["value"]) == card["defaults"][name], name
        assert sliders[name]["shown"] == f"{sliders[name]['value']} (model default)", name
    assert options(page, "#response_format") == speech["response_format"]["enum"]
    assert page.input_value("#response_format") == "wav"  # the page's choice: saved from what played

    # An exclusive bound becomes the first value on the input's step (0.05) inside it.
    speed = {**speech["speed"], "exclusiveMinimum": 0.25, "exclusiveMaximum": 4}
    del speed["minimum"], speed["maximum"]
    document["components"]["schemas"]["SpeechRequest"]["properties"]["speed"] = speed
    page.route(re.compile(r"/openapi\.json$"), lambda route: route.fulfill(json=document))
    open_playground(page, f"{base_url}/")
    shown = number_inputs(page)["speed"]
    assert (shown["min"], shown["max"]) == ("0.3", "3.95")


# -- the model picker, the language menu and Turbo's tags ----------------------------------------

def picker_entries(page) -> list[dict]:
    return page.eval_on_selector_all("#model option", """options => options.map(
        o => ({id: o.value, engine: o.dataset.engine, disabled: o.disabled, text: o.textContent}))""")


def options(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(f"{selector} option", "options => options.map(o => o.value)")


def shown_sliders(page) -> list[str]:
    return page.eval_on_selector_all("#chatterbox-controls input[type=range]",
                                     "sliders => sliders.filter(s => s.checkVisibility()).map(s => s.name)")


def speak_and_capture(page, bodies: list[dict]) -> dict:
    """Clicks Speak and returns the JSON body of the speech request the page sent (a route answers it)."""
    count = len(bodies)
    page.click("#speak-button")
    wait_for(page, "['played', 'error'].includes(window.playground.last?.state)", timeout=30)
    assert len(bodies) == count + 1 and last(page)["state"] == "played", last(page)
    return bodies[-1]


def answer_speech(page) -> list[dict]:
    """Answers every speech request with 0.2 s of PCM and keeps the bodies the page sent, in order."""
    bodies: list[dict] = []
    tone = b"".join(int(8000 * ((i // 20) % 2 * 2 - 1)).to_bytes(2, "little", signed=True) for i in range(4800))

    def answer(route):
        bodies.append(route.request.post_data_json)
        route.fulfill(status=200, content_type="audio/pcm", body=tone)

    page.route(re.compile(r"/v1/audio/speech$"), answer)
    return bodies


def test_the_model_picker_offers_each_engine_as_v1_models_says(page, base_url, client, cloned_voice):
    cards = client.get("/v1/models").json()["data"]
    ready = {card["engine"]: card["ready"] for card in cards if card["id"] == card["engine"]}
    health = client.get("/health").json()["engines"]
    assert ready["kokoro"] and ready["chatterbox"]  # Chatterbox on random weights: cloned_voice needs it
    open_playground(page, f"{base_url}/")

    # One entry per engine (Kokoro, not its OpenAI names), its readiness as /v1/models says.
    entries = picker_entries(page)
    assert [entry["engine"] for entry in entries] == [entry["id"] for entry in entries] == ENGINES
    for entry in entries:
        assert entry["disabled"] is not ready[entry["engine"]], entry
        assert entry["text"].endswith("(not loaded)") is not ready[entry["engine"]], entry
    # Turbo and Multilingual have a checkpoint only when a test of the session asks for the whole family:
    # a model that is not loaded says why, as /health does.
    for model in CHATTERBOX_ENGINES:
        reason = page.locator(f'#chatterbox-reason li[data-engine="{model}"]')
        if ready[model]:
            assert reason.count() == 0
        else:
            assert health[model]["reason"] in reason.text_content()
    assert page.input_value("#model") == "kokoro" and page.is_visible("#blend")
    assert page.is_hidden("#tags")

    # Kokoro: its lang_code menu, 'a' (American English) first; the choice goes into the request.
    assert page.is_visible("#language") and page.get_attribute("#language", "name") == "lang_code"
    assert options(page, "#language") == KOKORO_LANG_CODES and page.input_value("#language") == "a"
    page.select_option("#language", "b")
    page.select_option("#voice-picker", "jm_kumo")
    page.fill("#input", "Hello there.")
    with page.expect_response(re.compile(r"/v1/audio/speech$")) as answered:
        page.click("#speak-button")
    body = answered.value.request.post_data_json
    assert answered.value.status == 200
    assert body["model"] == "kokoro" and body["lang_code"] == "b" and "language" not in body
    assert not {"exaggeration", "cfg_weight", "temperature"} & set(body), body
    wait_for(page, "['played', 'error'].includes(window.playground.last?.state)", timeout=60)
    assert last(page)["state"] == "played"

    # Chatterbox: cloned voices and the model's built-in voice, no Kokoro voice; no language menu.
    bodies = answer_speech(page)
    page.select_option("#model", "chatterbox")
    offered = options(page, "#voice-picker")
    assert cloned_voice["speaker_name"] in offered and "/built-in" in offered
    assert "jm_kumo" not in offered and page.is_hidden("#blend")
    assert page.is_hidden("#language") and page.is_hidden("#tags")
    assert page.input_value("#voice") in offered  # a library voice took the Kokoro voice's place
    assert not page.eval_on_selector("#chatterbox-controls", "fieldset => fieldset.disabled")
    assert shown_sliders(page) == ["exaggeration", "cfg_weight", "temperature"]
    page.select_option("#voice-picker", cloned_voice["speaker_name"])
    page.fill("#exaggeration", "0.75")  # moved: sent; the sliders not moved are the model's defaults
    body = speak_and_capture(page, bodies)
    assert body["model"] == "chatterbox" and body["voice"] == cloned_voice["speaker_name"]
    assert body["exaggeration"] == 0.75 and not {"cfg_weight", "temperature", "language", "lang_code"} & set(body)
    page.select_option("#voice-picker", "/built-in")  # no voice: the model's own
    assert page.input_value("#voice") == ""
    body = speak_and_capture(page, bodies)
    assert body["model"] == "chatterbox" and "voice" not in body

    # A model that is not loaded cannot be chosen; back on Kokoro, Kokoro's voices and its default.
    for model in CHATTERBOX_ENGINES:
        if not ready[model]:
            assert page.is_disabled(f'#model option[value="{model}"]')
    page.select_option("#model", "kokoro")
    assert page.input_value("#voice") == client.get("/v1/audio/voices").json()["default"]
    assert page.input_value("#language") == "b"  # what was picked for Kokoro is kept


def test_multilingual_languages_and_turbo_tags(page, base_url, client):
    # Every model ready (as with every checkpoint), and the speech requests answered here: this test is about
    # what the page offers and sends.
    def all_ready(route):
        listing = route.fetch().json()
        route.fulfill(json={**listing, "data": [{**card, "ready": True} for card in listing["data"]]})

    page.route(re.compile(r"/v1/models$"), all_ready)
    bodies = answer_speech(page)
    open_playground(page, f"{base_url}/")
    assert [entry["disabled"] for entry in picker_entries(page)] == [False] * 4

    # Multilingual: its 23 languages, English first chosen, sent as `language`.
    page.select_option("#model", "chatterbox-multilingual")
    assert page.is_visible("#language") and page.get_attribute("#language", "name") == "language"
    assert options(page, "#language") == MULTILINGUAL_LANGUAGES
    assert page.input_value("#language") == "en"
    assert page.is_hidden("#tags") and page.is_hidden("#blend")
    page.select_option("#voice-picker", "/built-in")
    page.select_option("#language", "fr")
    page.fill("#input", "Bonjour à tous.")
    body = speak_and_capture(page, bodies)
    assert body["model"] == "chatterbox-multilingual" and body["language"] == "fr" and "lang_code" not in body
    assert body["input"] == "Bonjour à tous." and "voice" not in body
    assert not {"exaggeration", "cfg_weight", "temperature"} & set(body)  # none moved: the model's defaults
    # Each engine keeps the language picked for it.
    page.select_option("#model", "kokoro")
    assert options(page, "#language") == KOKORO_LANG_CODES and page.input_value("#language") == "a"
    page.select_option("#model", "chatterbox-multilingual")
    assert page.input_value("#language") == "fr"

    # Turbo: no language, and of the sliders only temperature (it has no guidance, no exaggeration); its tags.
    page.select_option("#model", "chatterbox-turbo")
    assert page.is_hidden("#language")
    assert shown_sliders(page) == ["temperature"]
    assert page.eval_on_selector_all("#tags button", "buttons => buttons.map(b => b.textContent)") == TURBO_TAGS
    page.fill("#input", "Well that was fun.")
    page.eval_on_selector("#input", "input => input.setSelectionRange(4, 4)")  # the cursor after "Well"
    page.click('#tags button[data-tag="[laugh]"]')
    assert page.input_value("#input") == "Well[laugh] that was fun."
    page.click('#tags button[data-tag="[clear throat]"]')  # at the cursor, now after the first tag
    assert page.input_value("#input") == "Well[laugh][clear throat] that was fun."
    assert page.evaluate("document.activeElement.id") == "input"
    page.eval_on_selector("#input", "input => input.setSelectionRange(0, 4)")  # a selection: the tag replaces it
    page.click('#tags button[data-tag="[sigh]"]')
    assert page.input_value("#input") == "[sigh][laugh][clear throat] that was fun."
    page.fill("#temperature", "0.6")
    body = speak_and_capture(page, bodies)
    assert body["model"] == "chatterbox-turbo" and body["input"] == "[sigh][laugh][clear throat] that was fun."
    assert body["temperature"] == 0.6 and not {"exaggeration", "cfg_weight", "language", "lang_code"} & set(body)

    # The tags are Turbo's alone.
    for model in ("chatterbox", "kokoro"):
        page.select_option("#model", model)
        assert page.is_hidden("#tags"), model
    body = speak_and_capture(page, bodies)
    assert body["model"] == "kokoro" and body["lang_code"] == "a" and "language" not in body


def test_a_model_at_zero_replicas_can_be_chosen_and_one_that_cannot_speak_cannot(page, base_url):
    # /v1/models as a gateway over a Turbo scaled to zero and a Multilingual without weights says it (the
    # served tier's test_scale_to_zero.py shows the gateway saying so); the speech requests answered here.
    states = {"chatterbox-turbo": "idle", "chatterbox-multilingual": "unavailable"}

    def some_idle(route):
        listing = route.fetch().json()
        cards = [{**card, "ready": card["engine"] not in states, "status": states.get(card["engine"], "ready")}
                 for card in listing["data"]]
        route.fulfill(json={**listing, "data": cards})

    page.route(re.compile(r"/v1/models$"), some_idle)
    bodies = answer_speech(page)
    open_playground(page, f"{base_url}/")
    entries = {entry["engine"]: entry for entry in picker_entries(page)}
    assert not entries["chatterbox-turbo"]["disabled"]
    assert entries["chatterbox-turbo"]["text"].endswith("(starts on first use)")
    assert entries["chatterbox-multilingual"]["disabled"]
    assert entries["chatterbox-multilingual"]["text"].endswith("(not loaded)")
    assert page.locator('#chatterbox-reason li[data-engine="chatterbox-turbo"]').count() == 0
    assert page.locator('#chatterbox-reason li[data-engine="chatterbox-multilingual"]').count() == 1

    page.select_option("#model", "chatterbox-turbo")
    assert not page.is_disabled("#chatterbox-controls") and shown_sliders(page) == ["temperature"]
    page.select_option("#voice-picker", "/built-in")
    page.fill("#input", "Wake up.")
    body = speak_and_capture(page, bodies)
    assert body["model"] == "chatterbox-turbo" and body["input"] == "Wake up."


# -- captions: /dev/captioned_speech as the gateway writes it ------------------------------------

CAPTIONED_TEXT = "Every word lights up while it is said, then it fades once it is over."


def captioned_answer(tmp_path: Path, kokoro: FakeKokoro) -> str:
    """What the gateway sends for CAPTIONED_TEXT from /dev/captioned_speech over a fake Kokoro with word timestamps
    (the served app's Kokoro runs on ONNX, which has none). At speed 0.25 the fake speaks it in about 3 s."""
    response = serve_gateway(tmp_path, kokoro=kokoro).client.post("/dev/captioned_speech", json={
        "input": CAPTIONED_TEXT, "voice": "jm_kumo", "response_format": "pcm", "speed": 0.25})
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-ndjson"
    return response.text


def test_captions_follow_the_audio_and_a_mid_stream_error_line_is_shown(page, base_url, tmp_path):
    answers = [captioned_answer(tmp_path / "ok", FakeKokoro())]
    page.route(re.compile(r"/dev/captioned_speech$"), lambda route: route.fulfill(
        status=200, content_type="application/x-ndjson", body=answers[-1]))
    open_playground(page, f"{base_url}/")
    page.check("#captions-toggle")
    page.click("#speak-button")
    # The word being said is highlighted while it plays; when all has played, every word is said.
    assert wait_for(page, "window.playground.last?.currentWord", timeout=30) in CAPTIONED_TEXT.split()
    assert page.text_content("#captions .word.now") == page.get_attribute("#captions", "data-word")
    wait_for(page, "window.playground.last.state === 'played'", timeout=30)
    shown = page.eval_on_selector_all("#captions .word", "words => words.map(w => [w.textContent, w.className])")
    assert [word for word, _ in shown] == CAPTIONED_TEXT.split()
    assert {classes for _, classes in shown} == {"word said"}
    pieces = [json.loads(line) for line in answers[-1].splitlines()]
    assert last(page)["bytes"] == sum(len(base64.b64decode(piece["audio"])) for piece in pieces) > 0
    assert page.evaluate("window.playgroundFrames.most") == 1

    # A failure after the stream opened: the gateway's last line is an error in the API's shape (as in its
    # SSE stream), and the page shows its message.
    answers.append(captioned_answer(tmp_path / "failing", MidStreamFailingKokoro()))
    *pieces, final = [json.loads(line) for line in answers[-1].splitlines()]
    assert len(pieces) == 1 and final["error"]["type"] == "server_error"
    page.click("#speak-button")
    shown = page.wait_for_selector('#speak-form [data-error-for="_form"]:not([hidden])', timeout=30_000)
    assert shown.text_content() == final["error"]["message"]
    failed = last(page)
    assert failed["state"] == "error" and failed["error"]["message"] == final["error"]["message"]
    assert failed["bytes"] == len(base64.b64decode(pieces[0]["audio"]))


# -- /docs ----------------------------------------------------------------------------------------

def test_docs_render_offline_and_list_the_speech_route(page, base_url):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{base_url}/docs")
    speech = page.locator('.opblock-summary-path[data-path="/v1/audio/speech"]')
    speech.wait_for(timeout=30_000)
    assert page.locator('.opblock-summary-path[data-path="/dev/captioned_speech"]').count() == 1
    speech.click()  # it opens, with its request body
    page.locator("#operations-OpenAI_speech-create_speech_v1_audio_speech_post .opblock-body").wait_for()
    # Everything came from the gateway: no CDN (and the page fixture saw no Content-Security-Policy violation).
    assert requested and all(url.startswith((f"{base_url}/", "data:")) for url in requested), requested


@pytest.fixture(scope="module")
def plain_app(serve_instance, client, tmp_path_factory):
    """A second app with no Chatterbox checkpoint (for none of the three models) and an API key (PLAIN_KEY),
    under a route prefix; it shares the test app's Kokoro and Conversion."""
    from ray import serve

    from deployments.chatterbox.deployment import DEPLOYMENT_NAMES, ChatterboxDeployment
    from deployments.chatterbox.settings import ChatterboxSettings

    library = tmp_path_factory.mktemp("plain-voices")
    chatterbox = {model: ChatterboxDeployment.options(name=name, ray_actor_options={"num_cpus": 0.1})
                  .bind(ChatterboxSettings(model=model), library) for model, name in DEPLOYMENT_NAMES.items()}
    serve.run(gateway_over_test_engines({"api_key_hashes": [key_digest(PLAIN_KEY)]}, library, **chatterbox),
              name=PLAIN, route_prefix=f"/{PLAIN}")
    deadline = time.monotonic() + 120
    while client.get(f"/{PLAIN}/health").status_code != 200:
        assert time.monotonic() < deadline, "the plain app did not become healthy"
        time.sleep(0.5)
    yield f"/{PLAIN}"
    serve.delete(PLAIN)


def test_cloning_without_chatterbox_weights_shows_the_503_reason(page, base_url, client, plain_app, reference_clip):
    requested: list = []
    page.on("request", lambda request: requested.append(request))
    open_playground(page, f"{base_url}{plain_app}/")
    # This app asks for a key: the field shows, and the key is kept for this tab only and sent as a
    # bearer token.
    assert page.is_visible("#key-form")
    # Without the key the models are the API's 401, at the engine picker, which offers Kokoro alone meanwhile.
    assert page.text_content('#speak-form [data-error-for="model"]') == api_error(
        client.get(f"{plain_app}/v1/models"), 401)["message"]
    assert page.eval_on_selector_all("#model option", "options => options.map(o => o.value)") == ["kokoro"]
    # /openapi.json too: the inputs have no bounds yet, and the form says why.
    refused = page.locator('#speak-form > [data-error-for="_form"]')
    assert refused.text_content() == api_error(client.get(f"{plain_app}/openapi.json"), 401)["message"]
    assert page.get_attribute("#speed", "max") is None
    page.fill("#api-key", PLAIN_KEY)
    with page.expect_response(re.compile(r"/v1/voices$")) as listed, \
            page.expect_response(re.compile(r"/v1/models$")) as models:
        page.click("#key-form button")
    assert listed.value.status == 200 and listed.value.request.headers["authorization"] == f"Bearer {PLAIN_KEY}"
    assert models.value.status == 200
    assert page.evaluate("sessionStorage.getItem('chorus.apiKey')") == PLAIN_KEY
    engines = client.get(f"{plain_app}/health").json()["engines"]
    # Each Chatterbox model is listed, not loaded, with the reason /health gives; Kokoro is chosen.
    wait_for(page, "document.querySelectorAll('#model option').length === 4")
    assert page.is_hidden('#speak-form [data-error-for="model"]')
    wait_for(page, "document.querySelector('#speed').max !== ''")  # the key fetched the bounds
    assert page.is_hidden('#speak-form > [data-error-for="_form"]')
    assert page.input_value("#model") == "kokoro"
    for model in CHATTERBOX_ENGINES:
        assert engines[model]["status"] == "unavailable"
        assert page.get_attribute(f'#engines [data-engine="{model}"]', "data-status") == "unavailable"
        assert page.is_disabled(f'#model option[value="{model}"]')
        assert page.text_content(f'#model option[value="{model}"]').endswith("(not loaded)")
        assert engines[model]["reason"] in page.text_content(f'#chatterbox-reason li[data-engine="{model}"]')
    chatterbox = engines["chatterbox"]
    assert page.eval_on_selector("#chatterbox-controls", "fieldset => fieldset.disabled")
    assert page.is_disabled("#exaggeration") and page.is_disabled("#seed")
    # Every request went under the route prefix: the page's URLs are relative.
    assert requested and all(r.url.startswith(f"{base_url}{plain_app}/") for r in requested), requested

    page.fill("#clone-name", "Nobody")
    page.set_input_files("#clone-file", str(reference_clip))
    page.click("#clone-button")
    shown = page.wait_for_selector('#clone-form [data-error-for="_form"]:not([hidden])', timeout=30_000)
    answer = client.post(f"{plain_app}/v1/voices", data={"name": "Nobody", "gender": "unknown"},
                         files={"file": ("reference.wav", reference_clip.read_bytes())},
                         headers={"Authorization": f"Bearer {PLAIN_KEY}"})
    expected = api_error(answer, 503)
    assert shown.text_content() == expected["message"] and chatterbox["reason"] in expected["message"]
    assert shown.get_attribute("data-status") == "503"
    assert page.is_hidden("#clone-result")


def test_renaming_a_voice_updates_the_library_list(page, base_url, client, cloned_voice):
    voice_id = cloned_voice["voice_id"]
    open_playground(page, f"{base_url}/")
    row = page.locator(f'#voice-table tr[data-voice-id="{voice_id}"]')
    assert row.locator(".voice-name").text_content() == cloned_voice["speaker_name"]

    # Its reference clip plays, as long as the clip it was cloned from.
    row.get_by_role("button", name="Play clip").click()
    wait_for(page, "document.querySelector('#clip-player').duration > 0")
    assert abs(page.evaluate("document.querySelector('#clip-player').duration") - cloned_voice["duration"]) < 0.1

    renamed = f"{cloned_voice['speaker_name']} Renamed"
    row.get_by_role("button", name="Rename").click()
    row.locator('input[name="name"]').fill(renamed)
    with page.expect_response(lambda response: response.request.method == "PATCH") as patched:
        row.get_by_role("button", name="Save").click()
    assert patched.value.status == 200
    wait_for(page, "([id, name]) => document.querySelector(`#voice-table tr[data-voice-id='${id}'] .voice-name`)"
             "?.textContent === name", arg=[voice_id, renamed])
    assert client.get(f"/v1/voices/{voice_id}").json()["speaker_name"] == renamed
    assert page.text_content(f'#convert-target option[value="{voice_id}"]') == renamed

    # An invalid name is the API's 400, shown next to the rename input.
    row.get_by_role("button", name="Rename").click()
    row.locator('input[name="name"]').fill("Bad/Name")
    row.get_by_role("button", name="Save").click()
    shown = row.locator('[data-error-for="name"]:not([hidden])')
    shown.wait_for()
    expected = api_error(client.patch(f"/v1/voices/{voice_id}", json={"name": "Bad/Name"}), 400)
    assert expected["param"] == "name"
    assert shown.text_content() == expected["message"]
    row.get_by_role("button", name="Cancel").click()

    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Really delete?").click()
    row.wait_for(state="detached", timeout=10_000)
    assert client.get(f"/v1/voices/{voice_id}").status_code == 404
