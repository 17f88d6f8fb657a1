"""What every engine deployment returns through its handle API: audio, chunks of a stream, health."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np


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


# idle: no replica (scaled to zero), starting: one is starting; the gateway says these from the Serve
# controller's counts, never from a replica.
EngineStatus = Literal["ready", "unavailable", "idle", "starting"]


@dataclass
class EngineHealth:
    engine: str
    status: EngineStatus
    backend: str
    reason: str | None = None
    queued_pieces: int = 0
    # How this replica batches, in its engine's own terms (Kokoro: pieces per forward pass; Chatterbox:
    # T3 rows per decode step, S3Gen items and mel frames per pass); empty while it cannot serve.
    batching: dict[str, float] = field(default_factory=dict)
    # The serve config's user_config in force on this replica, validated (None until Serve applies one):
    # how an operator sees that a live `serve deploy` reached the replicas.
    user_config: dict | None = None
