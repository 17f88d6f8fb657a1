"""Uploaded clips in every common format decode to mono float32 of the right length; bad ones are clear 400/413s."""

import base64
import io
import struct

import av
import numpy as np
import pytest
import soundfile

from audio.uploads import decode_base64_audio, decode_upload
from ground.errors import InvalidRequest, PayloadTooLarge

MB = 1024 * 1024
LIMITS = {"max_bytes": 10 * MB, "min_duration_s": 5, "max_duration_s": 60, "param": "reference_audio"}


def tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return np.stack([wave] + [np.zeros_like(wave)] * (channels - 1), axis=1)  # [frames, channels]


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2)))


def with_soundfile(audio: np.ndarray, rate: int, container: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format=container, subtype=subtype)
    return buffer.getvalue()


def with_pyav(audio: np.ndarray, rate: int, container: str, codec: str) -> bytes:
    buffer = io.BytesIO()
    layout = "mono" if audio.shape[1] == 1 else "stereo"
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio.T), format="fltp", layout=layout)
        frame.rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            output.mux(packet)
    return buffer.getvalue()


ENCODINGS = {
    "wav": lambda audio, rate: with_soundfile(audio, rate, "WAV", "PCM_16"),
    "flac": lambda audio, rate: with_soundfile(audio, rate, "FLAC", "PCM_16"),
    "ogg": lambda audio, rate: with_soundfile(audio, rate, "OGG", "VORBIS"),
    "opus": lambda audio, rate: with_soundfile(audio, rate, "OGG", "OPUS"),
    "mp3": lambda audio, rate: with_soundfile(audio, rate, "MP3", "MPEG_LAYER_III"),
    "aiff": lambda audio, rate: with_soundfile(audio, rate, "AIFF", "PCM_16"),
    "m4a": lambda audio, rate: with_pyav(audio, rate, "ipod", "aac"),
    "webm": lambda audio, rate: with_pyav(audio, rate, "webm", "libopus"),
}
FORMAT_NAMES = {"opus": "ogg"}  # Opus travels in an Ogg container


def encoded(name: str, seconds: float = 6.0, rate: int = 48000, channels: int = 1) -> bytes:
    return ENCODINGS[name](tone(seconds, rate, channels), rate)


def assert_rejected(call, words: str, error_class=InvalidRequest, status: int = 400):
    with pytest.raises(error_class) as caught:
        call()
    assert caught.value.http_status == status
    assert caught.value.param == "reference_audio"
    assert words in caught.value.message, caught.value.message


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_common_formats_decode_to_mono_with_their_duration(name):
    audio = decode_upload(encoded(name), **LIMITS)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.sample_rate == 48000
    assert audio.duration_s == pytest.approx(6.0, abs=0.05)
    assert audio.format == FORMAT_NAMES.get(name, name)
    assert rms(audio.samples) == pytest.approx(0.3 / np.sqrt(2), abs=0.02)


@pytest.mark.parametrize("name", ["wav", "webm"])  # one per decoder
def test_channels_are_mixed_to_mono(name):
    audio = decode_upload(encoded(name, channels=2), **LIMITS)  # a tone on the left, silence on the right
    assert audio.samples.ndim == 1
    assert rms(audio.samples) == pytest.approx(0.15 / np.sqrt(2), abs=0.02)


def test_the_upload_is_kept_for_storing_the_original():
    data = encoded("flac")
    assert decode_upload(data, **LIMITS).data == data


def test_base64_with_data_url_prefix_and_line_breaks():
    text = base64.encodebytes(encoded("mp3")).decode()  # wrapped every 76 characters
    audio = decode_base64_audio("data:audio/mpeg;base64," + text, **LIMITS)
    assert audio.duration_s == pytest.approx(6.0, abs=0.05)


def _wav_header(format_tag: int, rate: int, data_bytes: int) -> bytes:
    fmt = struct.pack("<HHIIHH", format_tag, 1, rate, rate * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", data_bytes))


def _cut(data: bytes, fraction: float) -> bytes:
    return data[:int(len(data) * fraction)]


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (np.random.default_rng(0).bytes(20_000), "not an audio file"),
    (b"Hello, this is plain text and not audio at all. " * 200, "not an audio file"),
    (encoded("wav")[:44], "no audio"),  # the header and nothing else
    (encoded("wav")[:30], "truncated"),  # cut inside the header
    (_cut(encoded("mp3"), 0.6), "truncated"),  # 3.6 s left, the header says 6 s
    (_cut(encoded("flac"), 0.6), "truncated"),
    (_cut(encoded("m4a"), 0.6), "truncated"),  # the index comes last, so nothing is left to read
    (encoded("wav", seconds=2), "at least 5 s"),
    (encoded("m4a", seconds=2), "at least 5 s"),
    (encoded("wav", seconds=61, rate=8000), "longer than the 60 s limit"),
    (encoded("webm", seconds=61), "longer than the 60 s limit"),
    (encoded("wav", rate=4000), "at least 8000 Hz"),
    (_wav_header(0x1234, 16000, 192_000) + bytes(192_000), "unsupported audio encoding"),
    (with_soundfile(np.full((48000 * 6, 1), np.nan, np.float32), 48000, "WAV", "FLOAT"), "NaN"),
], ids=["empty", "random", "text", "header-only-wav", "cut-wav-header", "truncated-mp3", "truncated-flac",
        "truncated-m4a", "short-wav", "short-m4a", "long-wav", "long-webm", "low-rate", "unknown-codec", "nan"])
def test_bad_uploads_are_400s_naming_the_field(data, words):
    assert_rejected(lambda: decode_upload(data, **LIMITS), words)


def test_over_the_size_limit_is_413():
    data = encoded("wav")
    limits = LIMITS | {"max_bytes": len(data) - 1}
    assert_rejected(lambda: decode_upload(data, **limits), "limit", PayloadTooLarge, 413)
    text = base64.b64encode(data).decode()
    assert_rejected(lambda: decode_base64_audio(text, **limits), "limit", PayloadTooLarge, 413)


@pytest.mark.parametrize("text", ["not base64 at all!", "QUJD*REVG", "données", "data:audio/wav;base64,A"])
def test_bad_base64_is_400(text):
    assert_rejected(lambda: decode_base64_audio(text, **LIMITS), "not valid base64")
