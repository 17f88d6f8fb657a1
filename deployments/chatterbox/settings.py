"""Configuration of the Chatterbox deployment, read from the serve config's `args`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments import paths
from deployments.chatterbox.batching import ChatterboxBatching, S3GenSteps
from deployments.chatterbox.loading import TorchThreads


class ChatterboxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint_dir: Path | None = Field(None, description="Directory with ve.safetensors, t3_cfg.safetensors, "
                                        "s3gen.safetensors, tokenizer.json and optionally conds.pt (relative paths "
                                        "are from the data root).")
    hub_repo: str | None = Field(None, description="Hugging Face repository to download the checkpoint from when "
                                 "checkpoint_dir is unset or incomplete (for example ResembleAI/chatterbox); "
                                 "the hub is never contacted when this is unset.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the model runs; auto: CUDA if present.")
    batching: ChatterboxBatching = Field(default_factory=ChatterboxBatching, description="Batch limits until the "
                                         "deployment's user_config sets them (it replaces them as a whole).")
    s3gen_steps: int = S3GenSteps
    torch_threads: int = TorchThreads
    voice_cache_mb: float = Field(64, ge=0, description="Bound on the prepared voices each replica keeps in memory "
                                  "(least recently used ones are dropped first).")
    max_reference_duration_sec: float = Field(30, gt=0, le=300, description="Reference clips are cut to this length "
                                              "before a voice is prepared from them.")
    chunk_size: int = Field(50, ge=1, le=100, description="Words per generated chunk when a request gives none: "
                            "whole sentences are packed up to it, longer sentences are cut at words.")
    first_chunk_size: int = Field(8, ge=1, le=100, description="Words in the first chunk of a text at most, so "
                                  "that its audio starts soon; the rest is packed up to chunk_size.")
    default_voice: str | None = Field(None, description="Voice used when a request names none; unset: the "
                                      "checkpoint's built-in voice (conds.pt), if it has one.")

    @field_validator("checkpoint_dir")
    @classmethod
    def _relative_to_data_root(cls, path: Path | None) -> Path | None:
        return None if path is None else paths.resolve(path)
