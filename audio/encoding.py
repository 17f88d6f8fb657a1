"""Encode float32 mono audio into response formats, whole or as a stream of bytes.

PyAV (FFmpeg) encodes the compressed formats; soundfile (libsndfile) writes the
complete containers. A stream encoder returns the bytes each chunk adds, so they can
be sent at once.
"""

from __future__ import annotations

import io
import struct

import av
import numpy as np
import soundfile

# format -> (FFmpeg muxer, FFmpeg encoder) for formats PyAV streams
_PYAV_FORMATS = {
    "mp3": ("mp3", "libmp3lame"),
    "opus": ("ogg", "libopus"),
    "aac": ("adts", "aac"),
    "flac": ("flac", "flac"),
}
# format -> (libsndfile container, subtype) for formats written whole
_SOUNDFILE_FORMATS = {"wav": ("WAV", "PCM_16"), "aiff": ("AIFF", "PCM_16"), "flac": ("FLAC", "PCM_16")}


def pcm16(audio: np.ndarray) -> np.ndarray:
    """The one float -> 16-bit conversion (rounded) for every format, so a streamed and a whole file hold the
    same samples."""
    return np.rint(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")


def to_pcm16(audio: np.ndarray) -> bytes:
    return pcm16(audio).tobytes()


def encode_whole(audio: np.ndarray, audio_format: str, sample_rate: int) -> bytes:
    if audio_format == "pcm":
        return to_pcm16(audio)
    if audio_format in _SOUNDFILE_FORMATS:
        container, subtype = _SOUNDFILE_FORMATS[audio_format]
        buffer = io.BytesIO()
        soundfile.write(buffer, pcm16(audio), sample_rate, subtype=subtype, format=container)
        return buffer.getvalue()
    encoder = StreamEncoder(audio_format, sample_rate)
    return encoder.encode(audio) + encoder.finish()


def streaming_wav_header(sample_rate: int) -> bytes:
    """A WAV header for 16-bit mono of unknown length (sizes set to the maximum, as streaming servers do)."""
    unknown = 0xFFFFFFFF
    return (
        b"RIFF" + struct.pack("<I", unknown) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data" + struct.pack("<I", unknown)
    )


class _Sink:
    """A write-only file for FFmpeg: not seekable, so muxers never rewrite sent bytes."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


class StreamEncoder:
    """Encodes chunk after chunk; `encode` returns the new bytes, `finish` the rest."""

    def __init__(self, audio_format: str, sample_rate: int):
        self._format = audio_format
        self._sample_rate = sample_rate
        self._started = False
        self._buffered: list[np.ndarray] = []  # aiff needs its length up front
        self._container = None
        if audio_format in _PYAV_FORMATS:
            muxer, codec = _PYAV_FORMATS[audio_format]
            self._sink = _Sink()
            self._container = av.open(self._sink, mode="w", format=muxer)
            self._stream = self._container.add_stream(codec, rate=sample_rate, layout="mono")
            self._samples_sent = 0

    def encode(self, audio: np.ndarray) -> bytes:
        if audio.size == 0:  # FFmpeg refuses empty frames
            return b""
        if self._format == "pcm":
            return to_pcm16(audio)
        if self._format == "wav":
            header = b"" if self._started else streaming_wav_header(self._sample_rate)
            self._started = True
            return header + to_pcm16(audio)
        if self._container is None:
            self._buffered.append(audio)
            return b""
        pcm = pcm16(audio).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self._sample_rate
        frame.pts = self._samples_sent
        self._samples_sent += pcm.shape[1]
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

    def finish(self) -> bytes:
        if self._container is None:
            if self._format in ("pcm", "wav"):
                return b""
            return encode_whole(np.concatenate(self._buffered or [np.zeros(0, np.float32)]), self._format, self._sample_rate)
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()
