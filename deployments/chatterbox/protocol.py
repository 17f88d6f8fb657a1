"""Typed handle API of the Chatterbox deployment: requests, voices and generation parameters
(names and meanings of the hosted Chatterbox API)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from deployments.s3gen.protocol import LibraryVoice, ReferenceAudio


class ChatterboxParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    exaggeration: float = Field(0.5, ge=0, le=2, description="Emotion intensity; higher is more expressive.")
    cfg_weight: float = Field(0.5, ge=0, le=1, description="Classifier-free guidance weight; higher follows the "
                              "text and voice more closely, 0 turns guidance off.")
    temperature: float = Field(0.8, ge=0.05, le=2, description="Sampling temperature; lower is more deterministic.")
    repetition_penalty: float = Field(1.2, ge=1, le=2, description="Penalty on speech tokens already generated.")
    min_p: float = Field(0.05, ge=0, le=1, description="Drop tokens less likely than min_p times the likeliest one.")
    top_p: float = Field(1.0, ge=0, le=1, description="Nucleus sampling: keep the likeliest tokens up to this mass.")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Same seed, text, voice and parameters: the "
                             "same audio. Unset: a fresh random draw.")
    chunk_size: int | None = Field(None, ge=1, le=100, description="Words per generated chunk (the streaming "
                                   "unit); unset: the deployment's default.")
    no_watermark: bool = Field(False, description="Skip the Perth watermark that marks the audio as generated.")


@dataclass
class PreparedVoice:
    """A voice `prepare_voice` made and nobody stored yet (the sample of a voice being cloned)."""

    conditionals: bytes


@dataclass
class ChatterboxRequest:
    text: str
    voice: LibraryVoice | ReferenceAudio | PreparedVoice | None = None  # None: the deployment's default voice
    params: ChatterboxParams = field(default_factory=ChatterboxParams)
    max_reference_duration_sec: float | None = None  # a ReferenceAudio is cut to this (and to the deployment's cap)
