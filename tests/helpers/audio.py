"""Checks that audio is speech: decoding, spectral flatness, and digits recognized by pocketsphinx."""

from __future__ import annotations

import base64
import io

import av
import numpy as np
import soundfile
import soxr
from pocketsphinx import Decoder

DIGITS_GRAMMAR = """#JSGF V1.0;
grammar digits;
public <digits> = <digit>+;
<digit> = zero | one | two | three | four | five | six | seven | eight | nine;
"""


def wav_bytes(seconds: float, rate: int = 24_000) -> bytes:
    """A WAV of a 220 Hz tone: a clip of a chosen length that decodes anywhere."""
    buffer = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(buffer, 0.3 * np.sin(2 * np.pi * 220 * t), rate, format="WAV")
    return buffer.getvalue()


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Decode any container FFmpeg knows into float32 mono and its sample rate."""
    with av.open(io.BytesIO(data)) as container:
        frames = [frame.to_ndarray() for frame in container.decode(audio=0)]
        rate = container.streams.audio[0].rate
    samples = np.concatenate([f.reshape(-1) for f in frames]).astype(np.float32)
    if samples.dtype.kind == "i" or np.abs(samples).max() > 2:
        samples = samples / 32768.0
    return samples, rate


def spectral_flatness(audio: np.ndarray, frame: int = 1024) -> float:
    """Median flatness of voiced frames: near 0 for tonal speech, near 1 for white noise."""
    frames = [audio[i:i + frame] for i in range(0, len(audio) - frame, frame)]
    values = []
    for chunk in frames:
        if np.sqrt(np.mean(chunk**2)) < 0.01:
            continue
        power = np.abs(np.fft.rfft(chunk * np.hanning(frame))) ** 2 + 1e-12
        values.append(np.exp(np.mean(np.log(power))) / np.mean(power))
    return float(np.median(values))


def mean_log_spectrum(audio: np.ndarray, frame: int = 1024) -> np.ndarray:
    """The average log-magnitude spectrum of voiced frames: a voice's timbre, whatever was said and how long."""
    spectra = [np.log1p(np.abs(np.fft.rfft(audio[i:i + frame] * np.hanning(frame))))
               for i in range(0, len(audio) - frame, frame // 2) if np.sqrt(np.mean(audio[i:i + frame] ** 2)) >= 0.01]
    return np.mean(spectra, axis=0)


def recognize_digits(audio: np.ndarray, sample_rate: int, grammar_path: str) -> list[str]:
    pcm = (np.clip(soxr.resample(audio, sample_rate, 16000), -1, 1) * 32767).astype(np.int16).tobytes()
    decoder = Decoder(samprate=16000, loglevel="FATAL")
    decoder.add_jsgf_file("digits", grammar_path)
    decoder.activate_search("digits")
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    return decoder.hyp().hypstr.split() if decoder.hyp() else []


def b64(data: bytes) -> str:
    """Bytes as the base64 text that JSON bodies carry."""
    return base64.b64encode(data).decode()


def spectral_magnitudes(audio: np.ndarray, frame: int = 1024, hop: int = 256) -> np.ndarray:
    """Short-time spectral magnitudes (Hann windows of `frame` samples every `hop`): what two renderings of the
    same speech share even where their samples differ."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, frame)[::hop] * np.hanning(frame)
    return np.abs(np.fft.rfft(frames, axis=1))
