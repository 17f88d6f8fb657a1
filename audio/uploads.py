"""Decode uploaded audio in any common format into float32 mono samples.

libsndfile (soundfile) reads WAV, FLAC, OGG/Vorbis/Opus, MP3 and AIFF and reports the
length their headers declare; FFmpeg (PyAV) reads the rest (M4A/AAC, WebM, ...). Both
read from memory, so no temporary file is written. Every way an upload can be bad is an
`InvalidRequest` (400) or `PayloadTooLarge` (413) naming the request field.

A file counts as truncated when it decodes to nothing, fails part way, or (for formats
libsndfile reads) holds clearly fewer frames than its header declares. A WAV whose data
chunk is cut short is not caught: libsndfile adjusts the length silently, so such a file
is judged by its remaining duration.
"""

from __future__ import annotations

import base64
import io
import math
import re
from dataclasses import dataclass, field

import av
import numpy as np
import soundfile

from ground.errors import AudioTooLong, InvalidRequest, PayloadTooLarge

MIN_SAMPLE_RATE = 8000  # below telephone quality too little of a voice is left to work with
# Decoders may return a few frames fewer than a header declares; a truncated upload loses far more.
_TRUNCATION_RATIO = 0.95
_DATA_URL_PREFIX = re.compile(r"^data:[^,]*;base64,", re.IGNORECASE)
# Container names given as the file extension a stored clip gets.
_SOUNDFILE_NAMES = {"WAVEX": "wav", "RF64": "wav"}
_PYAV_NAMES = {"mov,mp4,m4a,3gp,3g2,mj2": "m4a", "matroska,webm": "webm"}


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono
    sample_rate: int
    format: str  # container name usable as a file extension: wav, flac, ogg, mp3, m4a, webm, ...
    data: bytes = field(repr=False)  # the upload as received, so the original clip can be kept

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class AudioUpload:
    """Audio as a request carried it: a file's bytes, or base64 text from a JSON field."""

    data: bytes | str = field(repr=False)
    param: str  # the request field it came in, named in errors


def decode_audio_upload(upload: AudioUpload, *, max_bytes: int, min_duration_s: float | None = None,
                        max_duration_s: float | None = None) -> DecodedAudio:
    """`decode_upload` or `decode_base64_audio`, by what the request carried."""
    decode = decode_upload if isinstance(upload.data, bytes) else decode_base64_audio
    return decode(upload.data, max_bytes=max_bytes, min_duration_s=min_duration_s, max_duration_s=max_duration_s,
                  param=upload.param)


def decode_base64_audio(text: str, *, max_bytes: int, min_duration_s: float | None = None,
                        max_duration_s: float | None = None, param: str) -> DecodedAudio:
    """`decode_upload` for base64 text, optionally a data URL; line breaks and missing padding are tolerated."""
    encoded = "".join(_DATA_URL_PREFIX.sub("", text.strip(), count=1).split())
    try:
        data = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError as error:  # binascii.Error, or characters outside ASCII
        raise InvalidRequest(f"{param} is not valid base64 ({error})", param) from error
    return decode_upload(data, max_bytes=max_bytes, min_duration_s=min_duration_s,
                         max_duration_s=max_duration_s, param=param)


def decode_upload(data: bytes, *, max_bytes: int, min_duration_s: float | None = None,
                  max_duration_s: float | None = None, param: str) -> DecodedAudio:
    """Decode and check an uploaded clip.

    Decoding stops just past `max_duration_s`, so a small, highly compressed file cannot
    expand into gigabytes of samples.
    """
    if not data:
        raise InvalidRequest(f"{param} is empty", param)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{param} is {len(data)} bytes; the limit is {max_bytes} bytes", param)
    samples, sample_rate, audio_format = (_decode_soundfile(data, max_duration_s, param)
                                          or _decode_pyav(data, max_duration_s, param))
    if sample_rate < MIN_SAMPLE_RATE:
        raise InvalidRequest(
            f"{param} has a sample rate of {sample_rate} Hz; at least {MIN_SAMPLE_RATE} Hz is needed", param)
    if samples.size == 0:
        raise InvalidRequest(f"{param} contains no audio; the file may be truncated", param)
    if not np.isfinite(samples).all():
        raise InvalidRequest(f"{param} contains invalid samples (NaN or infinity)", param)
    duration = len(samples) / sample_rate
    if max_duration_s is not None and duration > max_duration_s:
        raise AudioTooLong(f"{param} is longer than the {max_duration_s:g} s limit", param)
    if min_duration_s is not None and duration < min_duration_s:
        raise InvalidRequest(f"{param} is {duration:.2f} s long; at least {min_duration_s:g} s is needed", param)
    return DecodedAudio(samples.astype(np.float32, copy=False), sample_rate, audio_format, data)


def _frame_limit(max_duration_s: float | None, sample_rate: int) -> int | None:
    """One frame more than allowed, so that reading that many tells a clip that is too long."""
    return None if max_duration_s is None else math.floor(max_duration_s * sample_rate) + 1


def _decode_soundfile(data: bytes, max_duration_s: float | None, param: str) -> tuple[np.ndarray, int, str] | None:
    """(mono samples, rate, format) through libsndfile, or None for a format it does not read."""
    try:
        sound = soundfile.SoundFile(io.BytesIO(data))
    except soundfile.LibsndfileError:
        return None
    with sound:
        limit = _frame_limit(max_duration_s, sound.samplerate)
        try:
            samples = sound.read(-1 if limit is None else limit, dtype="float32", always_2d=True)
        except soundfile.LibsndfileError as error:
            raise InvalidRequest(
                f"{param} could not be decoded to the end ({error.error_string}); the file is truncated or corrupt",
                param) from error
        expected = sound.frames if limit is None else min(sound.frames, limit)
        if len(samples) < _TRUNCATION_RATIO * expected:
            raise InvalidRequest(
                f"{param} is truncated: its header declares {sound.frames / sound.samplerate:.2f} s of audio "
                f"but the file holds {len(samples) / sound.samplerate:.2f} s", param)
        name = _SOUNDFILE_NAMES.get(sound.format, sound.format.lower())
        return samples.mean(axis=1), sound.samplerate, name


def _decode_pyav(data: bytes, max_duration_s: float | None, param: str) -> tuple[np.ndarray, int, str]:
    """(mono samples, rate, format) through FFmpeg: the first audio stream, converted to planar float."""
    try:
        container = av.open(io.BytesIO(data), metadata_errors="ignore")
    except av.FFmpegError as error:
        raise InvalidRequest(f"{param} is not an audio file in a known format, or it is truncated", param) from error
    with container:
        if not container.streams.audio:
            raise InvalidRequest(f"{param} contains no audio stream", param)
        stream = container.streams.audio[0]
        if stream.codec_context is None:  # FFmpeg knows the container but has no decoder for the samples
            raise InvalidRequest(f"{param} uses an unsupported audio encoding or sample format", param)
        sample_rate = stream.codec_context.sample_rate
        limit = _frame_limit(max_duration_s, sample_rate) or math.inf
        resampler = av.AudioResampler(format="fltp")  # any sample format in, float planes out
        planes: list[np.ndarray] = []
        decoded = 0
        try:
            # Mixed to mono frame by frame: a corrupt file may change its channel count mid-stream.
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    planes.append(converted.to_ndarray().mean(axis=0))
                    decoded += converted.samples
                if decoded >= limit:
                    break
            planes.extend(converted.to_ndarray().mean(axis=0) for converted in resampler.resample(None))
        except (av.FFmpegError, ValueError) as error:  # ValueError: format or layout changed mid-stream
            raise InvalidRequest(f"{param} could not be decoded to the end; the file is truncated or corrupt",
                                 param) from error
    name = _PYAV_NAMES.get(container.format.name, container.format.name.split(",")[0])
    samples = np.concatenate(planes) if planes else np.zeros(0, np.float32)
    return samples, sample_rate, name
