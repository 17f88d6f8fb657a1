"""Voice conversion on this CPU: conversion time against input length, S3Gen engine alone.

Run with `make bench-conversion`. No Chatterbox weights are reachable here, so S3Gen runs with
the random weights of tests/helpers/chatterbox_checkpoint.py: the same architecture, so the same work per
second of audio, but the output is noise. The target is a library voice made by Chatterbox from a
10 s clip (S3Gen's longest reference), so every piece is conditioned as in production. Prints a
Markdown table and writes it to bench/results/.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.service import ROOT
from deployments.chatterbox.engine import ChatterboxEngine
from deployments.chatterbox.settings import ChatterboxSettings
from deployments.conversion.engine import ConversionEngine
from deployments.conversion.settings import ConversionSettings
from tests.helpers.chatterbox_checkpoint import build_checkpoint, harmonic_clip

INPUT_RATE = 16_000
REFERENCE_SEC = 10
LENGTHS_SEC = (2, 5, 10, 20, 40)
REPEATS = 2  # median of this many runs per length


def measure(engine: ConversionEngine, target, seconds: float) -> tuple[float, int]:
    """Median wall seconds to convert `seconds` of speech-like audio (watermark on), and its pieces."""
    audio = harmonic_clip(seconds, INPUT_RATE, f0=140, seed=int(seconds))
    walls = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        converted, pieces = engine.convert(audio, INPUT_RATE, target)
        walls.append(time.perf_counter() - started)
    assert abs(len(converted) / engine.sr - seconds) < 0.01
    return statistics.median(walls), pieces


def run() -> str:
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = build_checkpoint(Path(scratch))
        # The target voice as the library stores it: Chatterbox's Conditionals for a 10 s clip.
        voice = ChatterboxEngine(ChatterboxSettings(checkpoint_dir=checkpoint)).prepare_voice(
            harmonic_clip(REFERENCE_SEC, 24_000, f0=120, seed=1), 24_000)
        engine = ConversionEngine(ConversionSettings(checkpoint_dir=checkpoint))
        assert engine.available, engine.reason
        target = engine.library_target("bench", lambda: voice)
        recording = harmonic_clip(REFERENCE_SEC, 24_000, f0=120, seed=1)
        started = time.perf_counter()
        engine.reference_target(recording, 24_000)
        embed_s = time.perf_counter() - started
        engine.convert(harmonic_clip(2, INPUT_RATE, f0=140), INPUT_RATE, target)  # warm-up
        results = [(seconds, *measure(engine, target, seconds)) for seconds in LENGTHS_SEC]

    header = (f"S3Gen voice conversion (random weights, full size) on {platform.machine()} CPU, "
              f"{os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads, "
              f"pieces of {engine.settings.piece_sec:g} s, {REFERENCE_SEC} s target reference, Perth watermark on, "
              f"median of {REPEATS} ({time.strftime('%Y-%m-%d')})\n\n")
    table = "| input | pieces | conversion time | x real time |\n|---|---|---|---|\n"
    table += "\n".join(f"| {seconds:g} s | {pieces} | {wall:.1f} s | {seconds / wall:.2f}x |"
                       for seconds, wall, pieces in results)
    footer = f"\n\nA one-off target recording ({REFERENCE_SEC} s) adds {embed_s:.2f} s to prepare its voice.\n"
    return header + table + footer


if __name__ == "__main__":
    report = run()
    print(report)
    (ROOT / "bench" / "results" / "conversion_cpu.md").write_text(report)
