"""Engine-side metrics of the Kokoro deployment (exported as `ray_chorus_...`)."""

from __future__ import annotations

from ray.serve import metrics

real_time_factor = metrics.Histogram(
    "chorus_real_time_factor", description="Audio seconds per second of inference, per piece.",
    boundaries=[0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512], tag_keys=("engine",))
queue_depth = metrics.Gauge(
    "chorus_queue_depth", description="Pieces waiting for an inference worker.", tag_keys=("engine",))
batch_size = metrics.Histogram(
    "chorus_batch_size", description="Pieces per forward pass (torch backend).",
    boundaries=[1, 2, 4, 8, 16, 32, 64, 128], tag_keys=("engine",))
ENGINE_TAGS = {"engine": "kokoro"}
