"""Configuration of a Chatterbox deployment (one per model of the family), read from the serve config's `args`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from deployments.chatterbox.limits import ChatterboxLimits
from deployments.chatterbox.protocol import ChatterboxModelName
from deployments.s3gen.settings import CheckpointSettings


class ChatterboxSettings(CheckpointSettings):
    model: ChatterboxModelName = Field("chatterbox", description="Which model of the family this deployment serves.")
    checkpoint_dir: Path | None = Field(None, description="Directory with the model's checkpoint, in the layout its "
                                        "class's from_local reads (chatterbox: ve.safetensors, t3_cfg.safetensors, "
                                        "s3gen.safetensors, tokenizer.json; chatterbox-turbo: ve.safetensors, "
                                        "t3_turbo_v1.safetensors, s3gen_meanflow.safetensors and GPT-2's tokenizer "
                                        "files; chatterbox-multilingual: ve.pt, t3_mtl23ls_v2.safetensors, s3gen.pt, "
                                        "grapheme_mtl_merged_expanded_v1.json, Cangjie5_TC.json), optionally conds.pt "
                                        "(relative paths are from the data root).")
    s3gen_steps: int | None = Field(None, ge=1, le=50, description="Euler steps of S3Gen's flow-matching decoder; "
                                    "unset: the model's own (10; Turbo's meanflow decoder 2). Fewer is faster and "
                                    "rougher.")
    batching: ChatterboxLimits = Field(default_factory=ChatterboxLimits, description="Batch limits until the "
                                       "deployment's user_config sets them (it replaces them as a whole).")
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
