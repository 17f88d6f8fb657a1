"""Chorus's own Prometheus metrics, exported through Ray's metrics agent beside Ray Serve's.

Ray prefixes every name with `ray_`, so these appear as `ray_chorus_...`.
"""

from __future__ import annotations

from ray.serve import metrics

audio_seconds = metrics.Counter(
    "chorus_audio_seconds", description="Seconds of audio sent to clients.", tag_keys=("engine",))
time_to_first_audio = metrics.Histogram(
    "chorus_time_to_first_audio_seconds", description="From request arrival to the first audio leaving the engine.",
    boundaries=[0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10], tag_keys=("engine",))
errors = metrics.Counter(
    "chorus_errors", description="Error responses by status and type.", tag_keys=("status", "type"))
