"""Batch limits of the Chatterbox deployment: its `user_config`, applied to running replicas without a
redeploy (`reconfigure`), with these defaults until the serve config sets it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from deployments.s3gen.limits import S3GenLimits


class T3Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch_rows: int = Field(32, ge=1, le=512, description="Most T3 rows decoded in one step; a guided "
                                "stream (cfg_weight > 0) takes two, an unguided one takes one.")
    kv_cache_tokens: int = Field(65_536, ge=256, description="Bound on the T3 KV cache, in row-tokens (rows "
                                 "times the longest reservation, a prompt plus its cap); streams wait to join "
                                 "while it is full. About 120 KB a token for the released T3 in bf16.")
    max_new_tokens: int = Field(1000, ge=1, le=4000, description="Cap on T3 speech tokens per chunk (25 a second).")


class ChatterboxLimits(T3Limits, S3GenLimits):
    """The Chatterbox deployment's user_config: T3's limits and S3Gen's."""
