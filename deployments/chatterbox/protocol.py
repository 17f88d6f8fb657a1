"""Typed handle API of the Chatterbox deployment: requests, voices and generation parameters
(names and meanings of the hosted Chatterbox API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from deployments.s3gen.protocol import LibraryVoice, ReferenceAudio
from ground.numbers import Integral

# Each generation parameter once: its type and bounds here, its default in ChatterboxParams. Every
# dialect (OpenAI speech, jobs, the WebSocket) declares its field with these types and may only rename it.
Exaggeration = Annotated[float, Field(ge=0, le=2, description="Emotion intensity; higher is more expressive.")]
CfgWeight = Annotated[float, Field(ge=0, le=1, description="Classifier-free guidance weight; higher follows the "
                                   "text and voice more closely, 0 turns guidance off.")]
Temperature = Annotated[float, Field(ge=0.05, le=2, description="Sampling temperature; lower is more "
                                     "deterministic.")]
RepetitionPenalty = Annotated[float, Field(ge=1, le=2, description="Penalty on speech tokens already generated.")]
MinP = Annotated[float, Field(ge=0, le=1, description="Drop tokens less likely than min_p times the likeliest one.")]
TopP = Annotated[float, Field(ge=0, le=1, description="Nucleus sampling: keep the likeliest tokens up to this mass.")]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="Same seed, text, voice and parameters: the same "
                            "audio. Unset: a fresh random draw."), Integral]
ChunkSize = Annotated[int, Field(ge=1, le=100, description="Words per generated chunk (the streaming unit); "
                                 "unset: the deployment's default."), Integral]


class ChatterboxParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    exaggeration: Exaggeration = 0.5
    cfg_weight: CfgWeight = 0.5
    temperature: Temperature = 0.8
    repetition_penalty: RepetitionPenalty = 1.2
    min_p: MinP = 0.05
    top_p: TopP = 1.0
    seed: Seed | None = None
    chunk_size: ChunkSize | None = None
    no_watermark: bool = Field(False, description="Skip the Perth watermark that marks the audio as generated.")


CHATTERBOX_DEFAULTS = ChatterboxParams()


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
