"""The Kokoro GPU benchmark's inputs, computed here, where the real int8 model is.

Speed depends on how many frames the decoder renders, not on weight values, so the device runs a
random-init KModel and is handed the frames the real model would render: for each benchmark sentence
(bench.kokoro_batching.SENTENCES, as the engine plans them), its token ids, style, speed, and the
per-token durations the int8 ONNX export predicts. The durations are read from the export's own graph:
the subgraph from its inputs to the rounded, clipped duration tensor, run with onnxruntime.

    python -m bench.gpu.kokoro_inputs OUT.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime

# The rounded durations, Clip(Round(sigmoid sum / speed), min=1), in the export's graph.
ONNX_DURATIONS = "/encoder/Clip_output_0"
ONNX_INPUTS = ["tokens", "style", "speed"]


def duration_session(model_path: Path) -> onnxruntime.InferenceSession:
    """The export cut down to the text side: its inputs to ONNX_DURATIONS (no audio is rendered)."""
    model = onnx.load(model_path)
    text_side = onnx.utils.Extractor(model).extract_model(ONNX_INPUTS, [ONNX_DURATIONS])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(text_side.SerializeToString(), options, providers=["CPUExecutionProvider"])


def onnx_durations(session: onnxruntime.InferenceSession, token_ids: list[int], style: np.ndarray,
                   speed: float) -> list[int]:
    """Per-token durations, the boundary tokens at both ends included, as the int8 model predicts them."""
    (durations,) = session.run(None, {
        "tokens": np.array([[0, *token_ids, 0]], dtype=np.int64),
        "style": np.asarray(style, dtype=np.float32).reshape(1, 256),
        "speed": np.array([speed], dtype=np.float32),
    })
    return [int(d) for d in np.asarray(durations).reshape(-1)]


def benchmark_items() -> list[dict]:
    """The benchmark sentences as the engine plans them (G2P, voice row), each with its ONNX durations."""
    from bench.kokoro_batching import SENTENCES, pieces
    from deployments.kokoro import weights
    from deployments.kokoro.engine import KokoroEngine
    from deployments.kokoro.voices import VoiceCatalog

    # Planning alone (G2P, splitting, the voice's style row) never reaches a backend.
    engine = KokoroEngine(None, VoiceCatalog.load(weights.bundled_voice_packs_file(), [], {}))
    session = duration_session(weights.onnx_model_path())
    items = []
    for piece in pieces(engine, len(SENTENCES)):
        style = np.asarray(piece.style, dtype=np.float32).reshape(256)
        items.append({"text": piece.text, "token_ids": [int(t) for t in piece.token_ids],
                      "style": [float(v) for v in style], "speed": float(piece.speed),
                      "durations": onnx_durations(session, piece.token_ids, style, piece.speed)})
    return items


def write_inputs(path: Path) -> dict:
    from deployments.kokoro import torch_weights

    inputs = {"kmodel_config": torch_weights.kmodel_config(), "items": benchmark_items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(inputs))
    return inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    inputs = write_inputs(parser.parse_args().out)
    for item in inputs["items"]:
        print(f"{sum(item['durations']):4} units  {item['text']}")


if __name__ == "__main__":
    main()
