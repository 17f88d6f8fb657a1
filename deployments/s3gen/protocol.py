"""The voices every S3Gen-based deployment's handle API takes: a stored library voice or a one-off clip."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONDITIONALS = "conditionals.pt"  # a prepared voice's artifact in the voice library (Conditionals.save)


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
