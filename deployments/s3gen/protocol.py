"""The voices every S3Gen-based deployment's handle API takes: a stored library voice or a one-off clip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

CONDITIONALS = "conditionals.pt"  # a prepared voice's artifact in the voice library (Conditionals.save)
# How much of a reference clip a request may ask to be used; the deployment's own cap may be lower.
ReferenceSeconds = Annotated[float, Field(gt=0, le=300, description="Use at most this many seconds of the "
                                          "reference audio (never more than the deployment's cap).")]
# Perth marks everything S3Gen renders (Chatterbox's speech and conversions alike) unless a request opts out.
NoWatermark = Annotated[bool, Field(description="Skip the Perth watermark that marks the audio as generated.")]


@dataclass
class LibraryVoice:
    """A voice stored in the voice library; `version` changes when the voice is re-created under the same id."""

    voice_id: str
    version: str


@dataclass
class ReferenceAudio:
    """A one-off reference clip (zero-shot cloning in a single request): float32 mono samples."""

    samples: np.ndarray
    sample_rate: int
