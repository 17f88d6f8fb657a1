"""The serve-config `args` every S3Gen-based deployment shares: where its checkpoint is and how it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments.s3gen.limits import S3GenSteps
from ground import paths


class CheckpointSettings(BaseModel):
    """Subclasses describe their checkpoint's files and add their own settings (and batch limits)."""

    model_config = ConfigDict(extra="forbid")

    checkpoint_dir: Path | None = Field(None, description="Directory holding the checkpoint's files (relative "
                                        "paths are from the data root).")
    hub_repo: str | None = Field(None, description="Hugging Face repository to download the checkpoint from when "
                                 "checkpoint_dir is unset or incomplete; the hub is never contacted when this is "
                                 "unset.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the model runs; auto: CUDA if present.")
    s3gen_steps: int = S3GenSteps
    # Ray sets OMP_NUM_THREADS to a replica's num_cpus, rounded down and at least 1: a replica that
    # reserves a tenth of a CPU (the laptop config) would run torch on one thread.
    torch_threads: int = Field(0, ge=0, description="CPU threads for torch in this replica (0: as Ray set them, "
                               "the replica's num_cpus rounded down, at least 1).")

    @field_validator("checkpoint_dir")
    @classmethod
    def _relative_to_data_root(cls, path: Path | None) -> Path | None:
        return None if path is None else paths.resolve(path)
