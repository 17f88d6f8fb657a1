"""Batch limits of the Chatterbox and Conversion deployments: their `user_config`, applied to running
replicas without a redeploy (`reconfigure`), with these defaults until the serve config sets it."""

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


class T3Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch_rows: int = Field(32, ge=1, le=512, description="Most T3 rows decoded in one step; a guided "
                                "stream (cfg_weight > 0) takes two, an unguided one takes one.")
    kv_cache_tokens: int = Field(65_536, ge=256, description="Bound on the T3 KV cache, in row-tokens (rows "
                                 "times the longest reservation, a prompt plus its cap); streams wait to join "
                                 "while it is full. About 120 KB a token for the released T3 in bf16.")
    max_new_tokens: int = Field(1000, ge=1, le=4000, description="Cap on T3 speech tokens per chunk (25 a second).")


class ChatterboxBatching(T3Limits, S3GenLimits):
    """The Chatterbox deployment's user_config: T3's limits and S3Gen's."""
