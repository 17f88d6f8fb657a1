"""Configuration of the voice conversion deployment, read from the serve config's `args`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from deployments.s3gen.limits import S3GenLimits
from deployments.s3gen.settings import CheckpointSettings


class ConversionSettings(CheckpointSettings):
    checkpoint_dir: Path | None = Field(None, description="Chatterbox's checkpoint directory; only its "
                                        "s3gen.safetensors is read (relative paths are from the data root).")
    max_reference_duration_sec: float = Field(10, gt=0, le=10, description="A one-off target recording is cut to "
                                              "this length (S3Gen imitates at most 10 s of reference).")
    piece_sec: float = Field(20, ge=5, le=25, description="Input longer than this is converted in pieces of about "
                             "this length, cut at pauses and joined with a crossfade.")
    batching: S3GenLimits = Field(default_factory=S3GenLimits, description="Batch limit until the deployment's "
                                  "user_config sets it.")
    voice_cache_mb: float = Field(16, ge=0, description="Bound on the library voices each replica keeps in memory "
                                  "(least recently used ones are dropped first).")
