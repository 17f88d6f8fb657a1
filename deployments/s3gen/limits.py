"""S3Gen's batch limits (the `user_config` of every deployment that renders with S3Gen, applied to running
replicas without a redeploy) and its one model setting, the flow-matching step count."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# An `args` setting of both the Chatterbox and the Conversion deployment (a model setting, not a limit).
S3GenSteps = Field(10, ge=1, le=50, description="Euler steps of S3Gen's flow-matching decoder (10, as the package "
                   "runs it): most of S3Gen's work; fewer is faster and rougher.")


class S3GenLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    s3gen_max_batch: int = Field(8, ge=1, le=64, description="Most chunks or pieces S3Gen renders in one pass.")
    s3gen_max_batch_frames: int = Field(16_000, ge=1, description="Most mel frames (50 a second of audio, the "
                                        "voice's reference prompt included) one S3Gen pass renders over all its "
                                        "items; an item longer than this renders alone. Where a pass is already "
                                        "compute-bound (long items on a CPU), batching more only adds time.")
