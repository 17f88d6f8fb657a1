"""Typed handle API of the voice conversion deployment (`convert`, and `convert_stream` piece by piece), for
the gateway, the job worker and other Serve apps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deployments.s3gen.protocol import LibraryVoice, NoWatermark, ReferenceAudio

MIN_INPUT_SEC = 0.5  # S3Gen's tokens are 40 ms each: anything shorter is hardly a word


@dataclass
class S3GenRequest:
    """Speech to re-speak in the target's voice, float32 mono `samples` at `sample_rate`.

    The answer is a ground.replies.SynthesisResult at 24 kHz, as long as the input;
    its `pieces` says how many pieces a long input was converted in.
    """

    samples: np.ndarray
    sample_rate: int
    target: LibraryVoice | ReferenceAudio  # a voice cloned into the library, or a one-off recording
    no_watermark: NoWatermark = False
    max_reference_duration_sec: float | None = None  # a ReferenceAudio target is cut to this (and to the deployment's cap)


@dataclass
class ConvertedPiece:
    """One piece of a conversion streamed by `convert_stream`, in input order.

    `audio` (float32 mono at `sample_rate`) belongs at sample `start` of an output `length` samples
    long; it overlaps the piece before it, and deployments.conversion.pieces.crossfade_join lays the
    pieces into one clip.
    """

    audio: np.ndarray
    sample_rate: int
    start: int
    length: int
    index: int
    count: int
