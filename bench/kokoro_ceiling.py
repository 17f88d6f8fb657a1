"""Raw onnxruntime on Kokoro's phoneme tokens: the ceiling for Kokoro on a CPU.

Two ways to get the tokens, both untimed: `packed_pieces` is what a user of the bare model
would do (sentences joined into the fewest pieces within the model's 510 tokens, counted with
the engine's own phonemizer); Chorus's own plan (`KokoroEngine.plan`) is the other, so that
what the plan costs against packing shows as a row. Each piece's tokens go straight into an
`InferenceSession`. Every other Kokoro CPU figure is quoted as a ratio to the packed ceiling
measured in the same run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import onnxruntime
import pysbd

from deployments.kokoro import weights
from deployments.kokoro.g2p import Phonemizer
from deployments.kokoro.onnx_backend import model_inputs
from deployments.kokoro.onnx_graph import dequantized_conv_model_path
from deployments.kokoro.protocol import SAMPLE_RATE
from deployments.kokoro.text import MODEL_MAX_TOKENS
from deployments.kokoro.voices import VoiceCatalog

Graph = Literal["int8", "float-conv"]
GRAPHS: tuple[Graph, ...] = ("int8", "float-conv")


class Piece(Protocol):
    """One forward pass's inputs: a packed piece here, or the engine's PlannedPiece."""

    token_ids: list[int]
    style: np.ndarray
    speed: float


@dataclass(frozen=True)
class PackedPiece:
    text: str
    token_ids: list[int]
    style: np.ndarray
    speed: float = 1.0


def packed_pieces(text: str, voice: str, lang_code: str = "a") -> list[PackedPiece]:
    """The text as a user of the bare model would feed it: whole sentences, greedily joined while the
    joined sentences' tokens stay within the model's limit (a sentence over it on its own is not cut:
    the bench texts have none)."""
    phonemizer = Phonemizer()
    vocabulary = weights.phoneme_vocabulary()
    pack = VoiceCatalog.load(weights.bundled_voice_packs_file(), [], {}).resolve(voice)

    def tokens(sentences: list[str]) -> list[int]:
        phonemes = phonemizer(" ".join(sentences), lang_code)
        return [vocabulary[p] for p in phonemes if p in vocabulary]

    groups: list[list[str]] = []
    for sentence in pysbd.Segmenter(language="en", clean=False).segment(text):
        sentence = " ".join(sentence.split())
        if groups and len(tokens([*groups[-1], sentence])) <= MODEL_MAX_TOKENS:
            groups[-1].append(sentence)
        elif sentence:
            groups.append([sentence])
    pieces = []
    for group in groups:
        ids = tokens(group)
        pieces.append(PackedPiece(" ".join(group), ids, pack[len(ids) - 1].reshape(256)))
    return pieces


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


def audio_seconds(session: onnxruntime.InferenceSession, piece: Piece) -> float:
    (audio,) = session.run(None, model_inputs(piece.token_ids, piece.style, piece.speed))
    return audio.size / SAMPLE_RATE


def serial(session: onnxruntime.InferenceSession, pieces: Sequence[Piece]) -> tuple[float, float]:
    """Audio seconds and wall seconds for the pieces one after another, as one request's are."""
    start = time.perf_counter()
    audio = sum(audio_seconds(session, piece) for piece in pieces)
    return audio, time.perf_counter() - start


def saturated(session: onnxruntime.InferenceSession, pieces: Sequence[Piece], workers: int,
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
