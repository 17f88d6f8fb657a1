"""POST /v1/audio/speech against the real Serve graph and the real Kokoro model."""

import base64
import json
import time

import httpx
import numpy as np
import pytest
from openai import OpenAI

from tests.helpers.audio import DIGITS_GRAMMAR, decode, mean_log_spectrum, recognize_digits, spectral_flatness

SENTENCE = "The quick brown fox jumps over the lazy dog."
LONG_TEXT = (
    "Chorus turns text into speech on a cluster of machines. "
    "Each sentence is spoken as soon as it is ready, so listeners hear the start early. "
    "This paragraph is long enough that the whole of it takes several seconds to synthesize. "
    "The last sentence arrives well after the first one did."
)
# When the first audio arrives is measured on two sentences: a short opening piece, then the rest.
TWO_SENTENCES = ("Chorus turns text into speech on a cluster of machines. "
                 "Each sentence is spoken as soon as it is ready, so listeners hear the start early.")


def speech(client, **fields):
    return client.post("/v1/audio/speech", json={"voice": "jm_kumo", **fields})


def pcm_samples(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<i2").astype(np.float32) / 32768


@pytest.mark.parametrize("audio_format", ["mp3", "opus", "aac", "flac", "wav", "pcm", "aiff"])
def test_every_format_decodes_to_speech_of_plausible_length(client, audio_format):
    response = speech(client, input=SENTENCE, response_format=audio_format)
    assert response.status_code == 200, response.text
    if audio_format == "pcm":
        samples, rate = pcm_samples(response.content), 24_000
    else:
        samples, rate = decode(response.content)
    duration = len(samples) / rate
    assert 1.5 < duration < 6.0  # nine words at a natural pace
    assert np.sqrt(np.mean(samples**2)) > 0.02  # not silence
    assert spectral_flatness(samples) < 0.3  # tonal speech, not noise


def test_digits_are_recognized(client, tmp_path):
    grammar = tmp_path / "digits.gram"
    grammar.write_text(DIGITS_GRAMMAR)
    response = speech(client, input="four eight one six", response_format="wav", stream=False)
    samples, rate = decode(response.content)
    assert recognize_digits(samples, rate, str(grammar)) == ["four", "eight", "one", "six"]


def test_non_streamed_wav_has_exact_header(client):
    response = speech(client, input=SENTENCE, response_format="wav", stream=False)
    assert response.headers["content-type"] == "audio/wav"
    assert int.from_bytes(response.content[40:44], "little") == len(response.content) - 44


@pytest.mark.parametrize("audio_format", ["pcm", "wav", "mp3", "opus"])
def test_first_audio_arrives_well_before_the_last(client, audio_format):
    start = time.monotonic()
    arrivals = []
    with client.stream("POST", "/v1/audio/speech",
                       json={"voice": "jm_kumo", "input": TWO_SENTENCES, "response_format": audio_format}) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            if chunk:
                arrivals.append(time.monotonic() - start)
    assert len(arrivals) > 1
    assert arrivals[0] < 0.5 * arrivals[-1]


def test_sse_events(client):
    with client.stream("POST", "/v1/audio/speech", json={
        "voice": "jm_kumo", "input": LONG_TEXT, "response_format": "pcm", "stream_format": "sse",
    }) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: "):]) for line in response.iter_lines() if line.startswith("data: ")]
    deltas = [event for event in events if event["type"] == "speech.audio.delta"]
    assert len(deltas) >= 4
    assert events[-1]["type"] == "speech.audio.done"
    assert events[-1]["usage"]["total_tokens"] > 100
    audio = pcm_samples(b"".join(base64.b64decode(event["audio"]) for event in deltas))
    assert len(audio) / 24_000 > 8


def test_speed_and_sample_rate_and_normalization(client):
    normal, _ = decode(speech(client, input=SENTENCE, response_format="wav", stream=False).content)
    fast, _ = decode(speech(client, input=SENTENCE, response_format="wav", stream=False, speed=2.0).content)
    assert 0.4 < len(fast) / len(normal) < 0.65
    resampled, rate = decode(speech(client, input=SENTENCE, response_format="wav", sample_rate=16000,
                                    normalization="peak", stream=False).content)
    assert rate == 16000
    assert abs(len(resampled) / rate - len(normal) / 24_000) < 0.02
    assert np.abs(resampled).max() == pytest.approx(10 ** (-1 / 20), abs=0.01)


def test_blends_aliases_british_and_sampling_fields(client):
    for fields in ({"voice": "jf_alpha(2)+jm_kumo(1)"}, {"voice": "nova"}, {"lang_code": "b"},
                   {"temperature": 0.7, "top_k": 40, "top_p": 0.9, "repetition_penalty": 1.1, "instructions": "calm"},
                   {"model": "tts-1-hd", "some_future_openai_field": True}):
        response = client.post("/v1/audio/speech", json={"input": "Hello there.", "response_format": "wav",
                                                         "voice": "jm_kumo", **fields})
        assert response.status_code == 200, (fields, response.text)
        assert len(decode(response.content)[0]) > 12_000


def wav_samples(client, **fields) -> np.ndarray:
    response = speech(client, response_format="wav", stream=False, **fields)
    assert response.status_code == 200, (fields, response.text)
    return decode(response.content)[0]


def test_a_blend_lies_between_its_packs(client):
    text = "A blended voice sounds like both of its parents, a little of each."
    alpha, kumo = (mean_log_spectrum(wav_samples(client, input=text, voice=v)) for v in ("jf_alpha", "jm_kumo"))
    blend = mean_log_spectrum(wav_samples(client, input=text, voice="jf_alpha(2)+jm_kumo(1)"))
    apart = np.linalg.norm(alpha - kumo)
    to_alpha, to_kumo = np.linalg.norm(blend - alpha), np.linalg.norm(blend - kumo)
    assert to_alpha > 0.05 * apart and to_kumo > 0.05 * apart  # neither pack alone
    assert to_alpha < apart and to_kumo < apart  # between them...
    assert to_alpha < to_kumo  # ...and nearer the pack with twice the weight


def test_language_and_aliases_take_effect_and_sampling_fields_do_not(client):
    text = "The tomato and the schedule were on the table."
    american = wav_samples(client, input=text)
    british = wav_samples(client, input=text, lang_code="b")
    assert len(american) != len(british) or not np.array_equal(american, british)
    assert np.array_equal(wav_samples(client, input=text, voice="onyx"), american)  # onyx is jm_kumo
    assert not np.array_equal(wav_samples(client, input=text, voice="nova"), american)
    # Kokoro does not sample: the fields are accepted and change nothing.
    sampled = wav_samples(client, input=text, temperature=0.7, top_k=40, top_p=0.9, repetition_penalty=1.1)
    assert np.array_equal(sampled, american)


def test_official_openai_client(base_url, tls_context, tmp_path):
    openai = OpenAI(base_url=f"{base_url}/v1", api_key="unused", http_client=httpx.Client(verify=tls_context))
    whole = openai.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE, response_format="wav")
    samples, rate = decode(whole.content)
    assert rate == 24_000 and len(samples) / rate > 1.5
    target = tmp_path / "speech.mp3"
    with openai.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="onyx", input=LONG_TEXT, response_format="mp3"
    ) as response:
        response.stream_to_file(target)
    assert len(decode(target.read_bytes())[0]) / 24_000 > 8


@pytest.mark.usefixtures("chatterbox_checkpoint")  # health is "ok" only with every engine ready
def test_discovery_routes(client):
    assert {m["id"] for m in client.get("/v1/models").json()["data"]} == {
        "kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "chatterbox", "chatterbox-turbo", "chatterbox-multilingual"}
    voices = client.get("/v1/audio/voices").json()
    assert "jm_kumo" in voices["voices"] and voices["aliases"]["alloy"] in voices["voices"]
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["engines"]["kokoro"]["status"] == "ready"
