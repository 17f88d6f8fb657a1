"""Engine-side metrics of the Kokoro deployment (exported as `ray_chorus_...`), alike on both backends."""

from __future__ import annotations

from ray.serve import metrics

real_time_factor = metrics.Histogram(
    "chorus_real_time_factor",
    description="Per piece: the piece's audio seconds over the wall time of the pass that rendered it "
                "(on torch, the whole batch's forward pass).",
    boundaries=[0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512], tag_keys=("engine",))
queue_depth = metrics.Gauge(
    "chorus_queue_depth",
    description="Pieces waiting to be rendered: for an inference thread (onnx) or for a forward pass (torch).",
    tag_keys=("engine",))
batch_size = metrics.Histogram(
    "chorus_batch_size", description="Pieces per forward pass, on the backend that batches requests (torch).",
    boundaries=[1, 2, 4, 8, 16, 32, 64, 128], tag_keys=("engine",))
ENGINE_TAGS = {"engine": "kokoro"}


def report_queue_depth(pieces: int) -> None:
    queue_depth.set(pieces, tags=ENGINE_TAGS)
