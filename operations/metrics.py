"""Metrics of engine calls made by the operations core (exported by Ray as `ray_chorus_...`)."""

from __future__ import annotations

from ray.serve import metrics

audio_seconds = metrics.Counter(
    "chorus_audio_seconds", description="Seconds of audio the engines returned, by engine.", tag_keys=("engine",))
# Usage by client (a short digest of its API key, or its address when auth is off; never the key itself).
client_characters = metrics.Counter(
    "chorus_client_characters", description="Characters of text sent to the engines, by client and engine.",
    tag_keys=("client", "engine"))
client_audio_seconds = metrics.Counter(
    "chorus_client_audio_seconds", description="Seconds of audio the engines returned, by client and engine.",
    tag_keys=("client", "engine"))
time_to_first_audio = metrics.Histogram(
    "chorus_time_to_first_audio_seconds",
    description="Streamed requests only: from the engine call to the first chunk of audio.",
    boundaries=[0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10], tag_keys=("engine",))
