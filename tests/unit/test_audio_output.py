"""Encoding, resampling and normalization in the gateway, on a real tone."""

import numpy as np
import pytest

from audio.output import AudioOutput
from tests.helpers.audio import decode

RATE = 24_000
TONE = (0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE * 2) / RATE)).astype(np.float32)


@pytest.mark.parametrize("audio_format", ["mp3", "opus", "aac", "flac", "wav", "aiff"])
def test_whole_and_streamed_encodings_decode_to_the_same_length(audio_format):
    whole, whole_rate = decode(AudioOutput(audio_format, RATE).whole(TONE))
    output = AudioOutput(audio_format, RATE)
    streamed = b"".join(output.process(TONE[i:i + 4800]) for i in range(0, len(TONE), 4800)) + output.finish()
    chunks, chunk_rate = decode(streamed)
    for samples, rate in ((whole, whole_rate), (chunks, chunk_rate)):
        assert abs(len(samples) / rate - 2.0) < 0.1


def test_streamed_mp3_sends_bytes_before_the_end():
    output = AudioOutput("mp3", RATE)
    assert len(output.process(TONE)) > 1000


def test_pcm_is_raw_int16():
    data = AudioOutput("pcm", RATE).whole(TONE)
    assert len(data) == 2 * len(TONE)
    assert np.abs(np.frombuffer(data, "<i2")).max() == pytest.approx(0.3 * 32767, rel=0.01)


def test_resampling_changes_rate_not_duration():
    samples, rate = decode(AudioOutput("wav", RATE, 16_000).whole(TONE))
    assert rate == 16_000 and abs(len(samples) / rate - 2.0) < 0.01


@pytest.mark.parametrize("mode, measure, target", [
    ("peak", lambda a: np.abs(a).max(), 10 ** (-1 / 20)),
    ("rms", lambda a: np.sqrt(np.mean(a**2)), 10 ** (-20 / 20)),
])
def test_normalization(mode, measure, target):
    samples, _ = decode(AudioOutput("wav", RATE, normalization=mode).whole(TONE))
    assert measure(samples) == pytest.approx(target, rel=0.02)
