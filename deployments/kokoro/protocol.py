"""Typed handle API of the Kokoro deployment: what other Ray Serve applications send and get."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

SAMPLE_RATE = 24_000
LangCode = Literal["a", "b"]


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="Text to speak.")
    voice: str = Field(description="Pack name, alias, or weighted blend such as 'jf_alpha(2)+jm_kumo(1)'.")
    speed: float = Field(1.0, ge=0.25, le=4.0, description="Speaking rate multiplier.")
    lang_code: LangCode = Field("a", description="'a' American English, 'b' British English.")
    first_piece_max_tokens: int | None = Field(
        None, ge=8, description="Streaming: cap on the first piece's phoneme tokens so audio starts sooner."
    )
    word_timestamps: bool = Field(False, description="Also return each word's start and end (torch backend).")


@dataclass(frozen=True)
class WordTiming:
    """When a word is heard, in seconds from the start of the whole audio."""

    word: str
    start: float
    end: float


@dataclass
class AudioChunk:
    """One spoken piece: float32 mono samples in [-1, 1]."""

    audio: np.ndarray
    sample_rate: int
    text: str
    index: int
    tokens: int
    words: list[WordTiming] = field(default_factory=list)


@dataclass
class SynthesisResult:
    audio: np.ndarray
    sample_rate: int
    pieces: int
    tokens: int
    words: list[WordTiming] = field(default_factory=list)


@dataclass
class VoiceInfo:
    name: str
    aliases: list[str] = field(default_factory=list)


@dataclass
class EngineHealth:
    engine: str
    status: Literal["ready", "unavailable"]
    backend: str
    reason: str | None = None
    queued_pieces: int = 0
    max_batch_size: int = 1  # pieces per forward pass (the torch backend batches)
