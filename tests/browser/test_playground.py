"""The playground (ingress/web/) in a real browser: Debian's chromium driven by Playwright.

Against the session's Serve app over HTTPS (Kokoro on ONNX CPU, Chatterbox on random weights),
plus a second app without a Chatterbox checkpoint under /plain/. The page exposes what it played
in `window.playground.last` (decoded duration, when playback started, when the response ended).
`make test` installs chromium (the Makefile's `browser` target). The page's screenshot goes to the
test's temporary directory (docs/playground.png, in the README, is a copy of one).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from ingress.auth import BearerKeys, key_digest
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


@pytest.fixture
def page(browser):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 820})
    opened = context.new_page()
    uncaught: list[str] = []
    opened.on("pageerror", lambda error: uncaught.append(str(error)))
    yield opened
    context.close()
    assert uncaught == [], f"the page threw: {uncaught}"


def open_playground(page, url: str):
    page.goto(url)
    page.wait_for_function("document.documentElement.dataset.ready === 'true'", timeout=30_000)


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
def cloned_voice(client, reference_clip):
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
    page.wait_for_function("['playing', 'played'].includes(window.playground.last?.state)", timeout=60_000)
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
    page.wait_for_function("window.playground.last.playedSeconds > 0.5", timeout=10_000)
    assert page.get_attribute("#playback", "data-state") in ("playing", "played")

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


@pytest.fixture(scope="module")
def plain_app(serve_instance, client, tmp_path_factory):
    """A second app with no Chatterbox checkpoint and an API key (PLAIN_KEY), under a route prefix; it
    shares the test app's Kokoro and Conversion."""
    from ray import serve

    from deployments.chatterbox.deployment import ChatterboxDeployment
    from deployments.chatterbox.settings import ChatterboxSettings

    library = tmp_path_factory.mktemp("plain-voices")
    chatterbox = ChatterboxDeployment.options(ray_actor_options={"num_cpus": 0.1}).bind(ChatterboxSettings(), library)
    serve.run(gateway_over_test_engines({"api_key_hashes": [key_digest(PLAIN_KEY)]}, library, chatterbox=chatterbox),
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
    page.fill("#api-key", PLAIN_KEY)
    with page.expect_response(re.compile(r"/v1/voices$")) as listed:
        page.click("#key-form button")
    assert listed.value.status == 200 and listed.value.request.headers["authorization"] == f"Bearer {PLAIN_KEY}"
    assert page.evaluate("sessionStorage.getItem('chorus.apiKey')") == PLAIN_KEY
    chatterbox = client.get(f"{plain_app}/health").json()["engines"]["chatterbox"]
    assert chatterbox["status"] == "unavailable"
    assert page.get_attribute('#engines [data-engine="chatterbox"]', "data-status") == "unavailable"
    assert chatterbox["reason"] in page.text_content("#chatterbox-reason")
    assert page.is_disabled('#model option[value="chatterbox"]')
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
    page.wait_for_function("document.querySelector('#clip-player').duration > 0", timeout=10_000)
    assert abs(page.evaluate("document.querySelector('#clip-player').duration") - cloned_voice["duration"]) < 0.1

    renamed = f"{cloned_voice['speaker_name']} Renamed"
    row.get_by_role("button", name="Rename").click()
    row.locator('input[name="name"]').fill(renamed)
    with page.expect_response(lambda response: response.request.method == "PATCH") as patched:
        row.get_by_role("button", name="Save").click()
    assert patched.value.status == 200
    page.wait_for_function(
        "([id, name]) => document.querySelector(`#voice-table tr[data-voice-id='${id}'] .voice-name`)?.textContent === name",
        arg=[voice_id, renamed], timeout=10_000)
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
