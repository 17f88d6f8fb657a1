"""The simple API of the Flask Kokoro wrapper: /voices, /synthesize, /synthesize/stream."""

import os
import tempfile

import soundfile

from tests.helpers.audio import decode


def test_voices(client):
    body = client.get("/voices").json()
    assert body["default"] in body["voices"] and "jm_kumo" in body["voices"]


def test_synthesize_returns_a_wav_attachment(client):
    response = client.post("/synthesize", json={"text": "Good morning, everyone.", "voice": "jm_kumo"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["content-disposition"].startswith("attachment")
    samples, rate = decode(response.content)
    assert rate == 24_000 and 1.0 < len(samples) / rate < 4.0


def test_synthesize_stream_returns_wav_bytes(client, tmp_path):
    response = client.post("/synthesize/stream", json={"text": "Good morning. Have a good day.", "format": "wav"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert "filename=" in response.headers["content-disposition"]
    target = tmp_path / "output.wav"
    target.write_bytes(response.content)
    samples, rate = soundfile.read(target)
    assert rate == 24_000 and len(samples) / rate > 1.5


def test_long_text_up_to_the_limit_leaves_no_temporary_files(client, tmp_path):
    before = _audio_temp_files()
    text = ("Numbers like 42 and 3.14 are read aloud. " * 250)[:10_000]
    response = client.post("/synthesize", json={"text": text[:200]})
    assert response.status_code == 200
    too_long = client.post("/synthesize", json={"text": text + "x"})
    assert too_long.status_code == 400 and too_long.json()["error"]["param"] == "text"
    assert _audio_temp_files() - before == set()


def _audio_temp_files() -> set[str]:
    temp = tempfile.gettempdir()
    return {name for name in os.listdir(temp) if name.endswith((".wav", ".mp3")) or name.startswith("tmp")}
