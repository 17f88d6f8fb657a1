"""Raw onnxruntime on the exact phoneme tokens the engine plans: the ceiling for Kokoro on a CPU.

Nothing of Chorus runs here but the planning (G2P, piece splitting and style lookup, done once,
untimed): each piece's tokens go straight into an `InferenceSession`. Every other Kokoro CPU
figure is quoted as a ratio to what this measures in the same run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Literal

import onnxruntime

from deployments.kokoro import weights
from deployments.kokoro.engine import PlannedPiece
from deployments.kokoro.onnx_backend import model_inputs
from deployments.kokoro.onnx_graph import dequantized_conv_model_path
from deployments.kokoro.protocol import SAMPLE_RATE

Graph = Literal["int8", "float-conv"]
GRAPHS: tuple[Graph, ...] = ("int8", "float-conv")


def model_path(graph: Graph):
    int8 = weights.onnx_model_path()
    return int8 if graph == "int8" else dequantized_conv_model_path(int8, int8.parent)


def raw_session(graph: Graph, threads: int, spinning: bool = True) -> onnxruntime.InferenceSession:
    """onnxruntime's defaults but for the thread count (and spinning, which it allows by default)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model_path(graph)), options, providers=["CPUExecutionProvider"])


def audio_seconds(session: onnxruntime.InferenceSession, piece: PlannedPiece) -> float:
    (audio,) = session.run(None, model_inputs(piece.token_ids, piece.style, piece.speed))
    return audio.size / SAMPLE_RATE


def serial(session: onnxruntime.InferenceSession, pieces: Sequence[PlannedPiece]) -> tuple[float, float]:
    """Audio seconds and wall seconds for the pieces one after another, as one request's are."""
    start = time.perf_counter()
    audio = sum(audio_seconds(session, piece) for piece in pieces)
    return audio, time.perf_counter() - start


def saturated(session: onnxruntime.InferenceSession, pieces: Sequence[PlannedPiece], workers: int,
              seconds: float) -> float:
    """Audio seconds per second with `workers` threads each running pieces back to back for about
    `seconds`: a fixed window instead of a fixed list, so no worker idles at the end waiting for another."""
    deadline = time.perf_counter() + seconds
    done: list[tuple[float, float]] = []  # (audio seconds, finish time) per worker
    start = time.perf_counter()

    def work(offset: int) -> None:
        audio, index = 0.0, offset
        while time.perf_counter() < deadline:
            audio += audio_seconds(session, pieces[index % len(pieces)])
            index += 1
        done.append((audio, time.perf_counter()))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(audio for audio, _ in done) / (max(finish for _, finish in done) - start)
