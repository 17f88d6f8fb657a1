"""Audio clips that engines receive through their handles, checked before a model sees them.

The gateway decodes and checks uploads itself; other Ray Serve applications call the handles
directly, so the engines check again and answer a bad clip with an InvalidRequest naming it.
"""

from __future__ import annotations

import numpy as np

from ground.errors import InvalidRequest


def checked_clip(audio: np.ndarray, sample_rate: int, *, param: str, min_sec: float,
                 max_sec: float | None = None) -> np.ndarray:
    """float32 mono samples, cut to `max_sec` when that is set."""
    wav = np.asarray(audio, dtype=np.float32)
    if wav.ndim != 1:
        raise InvalidRequest(f"{param} must be mono (one channel)", param=param)
    if sample_rate <= 0:
        raise InvalidRequest(f"{param} needs a positive sample rate", param=param)
    if max_sec is not None:
        wav = wav[:int(max_sec * sample_rate)]
    if len(wav) < min_sec * sample_rate:
        raise InvalidRequest(f"{param} must be at least {min_sec:g} s long", param=param)
    if not np.isfinite(wav).all():
        raise InvalidRequest(f"{param} has non-finite samples", param=param)
    return wav
