"""Response formats the gateway can produce and their media types."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ground.numbers import Integral

AudioFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm", "aiff"]
# The output rate any dialect may ask for (resampled with soxr); the lossy encoders narrow it (ENCODER_RATES).
OutputRate = Annotated[int, Field(ge=8000, le=48000, description="Output sample rate in Hz (resampled); default "
                                  "24000. mp3 and aac take 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100 "
                                  "or 48000; opus 8000, 12000, 16000, 24000 or 48000."), Integral]

MEDIA_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "aiff": "audio/aiff",
}

# The sample rates each lossy encoder takes (libmp3lame, libopus, FFmpeg's AAC); the other formats
# take any rate.
ENCODER_RATES: dict[str, tuple[int, ...]] = {
    "mp3": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
    "opus": (8000, 12000, 16000, 24000, 48000),
    "aac": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
}


def check_encodable(audio_format: str, sample_rate: int | None) -> int | None:
    """`sample_rate` if `audio_format`'s encoder takes it; a ValueError that lists the rates it takes if not."""
    rates = ENCODER_RATES.get(audio_format)
    if sample_rate is not None and rates is not None and sample_rate not in rates:
        raise ValueError(f"{audio_format} cannot be encoded at {sample_rate} Hz; use one of "
                         f"{', '.join(map(str, rates))}")
    return sample_rate
