"""Configuration of the voice conversion deployment, read from the serve config's `args`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments import paths
from deployments.chatterbox.batching import S3GenLimits, S3GenSteps
from deployments.chatterbox.loading import TorchThreads


class ConversionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint_dir: Path | None = Field(None, description="Chatterbox's checkpoint directory; only its "
                                        "s3gen.safetensors is read (relative paths are from the data root).")
    hub_repo: str | None = Field(None, description="Hugging Face repository to download s3gen.safetensors from "
                                 "when checkpoint_dir lacks it; the hub is never contacted when this is unset.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where S3Gen runs; auto: CUDA if present.")
    max_reference_duration_sec: float = Field(10, gt=0, le=10, description="A one-off target recording is cut to "
                                              "this length (S3Gen imitates at most 10 s of reference).")
    piece_sec: float = Field(20, ge=5, le=25, description="Input longer than this is converted in pieces of about "
                             "this length, cut at pauses and joined with a crossfade.")
    batching: S3GenLimits = Field(default_factory=S3GenLimits, description="Batch limit until the deployment's "
                                  "user_config sets it.")
    s3gen_steps: int = S3GenSteps
    torch_threads: int = TorchThreads
    voice_cache_mb: float = Field(16, ge=0, description="Bound on the library voices each replica keeps in memory "
                                  "(least recently used ones are dropped first).")

    @field_validator("checkpoint_dir")
    @classmethod
    def _relative_to_data_root(cls, path: Path | None) -> Path | None:
        return None if path is None else paths.resolve(path)
