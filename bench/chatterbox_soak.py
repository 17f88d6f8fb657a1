"""Soak of the Chatterbox engines alone, on this CPU: process RSS over many generate calls of each model.

For each model of the family a random-weight checkpoint (tests.helpers.chatterbox_checkpoint: full-size
VoiceEncoder and S3Gen, a two-layer T3; 1.2-1.6 GB) is written to a temporary directory, deleted after
the model's soak. A fresh process, so that each model's RSS is its own, loads it through ChatterboxEngine
and makes `--calls` generate calls one after another with the checkpoint's built-in voice, watermarked
as by default (--no-watermark: not, to tell the watermarker's share), reading its RSS after each. Random
weights hardly ever stop: T3 is capped at 16 tokens a chunk. Growth per call is the least-squares slope
of RSS over the calls after the warm-up, and over the second half of the calls (where caches and the
allocator have settled, a leak still grows).

    python -m bench.chatterbox_soak            # make bench-chatterbox-soak
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench.service import ROOT
from bench.tables import cpu_name, publish
from deployments.chatterbox.protocol import CHATTERBOX_MODELS, MULTILINGUAL, ORIGINAL, TURBO

MODELS = (ORIGINAL, TURBO, MULTILINGUAL)
TORCH_THREADS = 2
# One chunk each (the first chunk is at most 8 words), in the model's language.
TEXTS = {ORIGINAL: ("The ferry left the harbour at dawn.", None),
         TURBO: ("The ferry left the harbour at dawn.", None),
         MULTILINGUAL: ("Le bac a quitté le port à l'aube.", "fr")}


def soak(model: str, checkpoint_dir: Path, calls: int, watermark: bool) -> tuple[float, list[float], list[float]]:
    """In a process of its own: MB of RSS once the engine has loaded, then RSS and seconds after each call."""
    import psutil

    from deployments.chatterbox.engine import ChatterboxEngine
    from deployments.chatterbox.settings import ChatterboxSettings

    process = psutil.Process()
    engine = ChatterboxEngine(ChatterboxSettings(model=model, checkpoint_dir=checkpoint_dir, device="cpu",
                                                 batching={"max_new_tokens": 16}, torch_threads=TORCH_THREADS))
    if engine.reason:
        raise RuntimeError(engine.reason)
    loaded = process.memory_info().rss / 2**20
    text, language = TEXTS[model]
    voice = engine.builtin_voice
    params = engine.spec.defaults.model_copy(update={"no_watermark": not watermark})
    rss, seconds = [], []
    for _ in range(calls):
        started = time.perf_counter()
        audio = list(engine.generate(text, voice, params, language))
        seconds.append(time.perf_counter() - started)
        assert sum(len(chunk) for chunk in audio) > 0
        rss.append(process.memory_info().rss / 2**20)
    return loaded, rss, seconds


def slope(values: list[float]) -> float:
    return float(np.polyfit(np.arange(len(values)), values, 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--warm-up", type=int, default=5, help="calls before growth is measured")
    parser.add_argument("--no-watermark", action="store_true", help="calls without the Perth watermark")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "chatterbox_soak_cpu.md")
    args = parser.parse_args()

    from tests.helpers.chatterbox_checkpoint import build_checkpoint

    began = time.perf_counter()
    half_call = args.calls // 2
    rows, series = [], {}
    # spawn: each soak starts from a bare interpreter, not a copy of this one (which built the checkpoint)
    context = multiprocessing.get_context("spawn")
    for model in args.models:
        title = CHATTERBOX_MODELS[model].title
        with tempfile.TemporaryDirectory(prefix="chatterbox-soak-") as directory:
            checkpoint_dir = build_checkpoint(Path(directory), 0, model)
            size = sum(f.stat().st_size for f in checkpoint_dir.iterdir()) / 2**30
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                loaded, rss, seconds = pool.submit(soak, model, checkpoint_dir, args.calls,
                                                   not args.no_watermark).result()
        warm, half = rss[args.warm_up - 1], rss[half_call - 1]
        rows.append(f"| {title} | {size:.2f} GB | {loaded:,.0f} | {warm:,.0f} | {half:,.0f} | {rss[-1]:,.0f} | "
                    f"{rss[-1] - warm:+,.1f} | {slope(rss[args.warm_up - 1:]):+.2f} | "
                    f"{slope(rss[half_call - 1:]):+.2f} | {statistics.median(seconds):.2f} |")
        print(rows[-1], flush=True)
        series[title] = rss
    minutes = (time.perf_counter() - began) / 60

    lines = [f"# Chatterbox soak on {cpu_name()}, torch_threads={TORCH_THREADS}, {time.strftime('%Y-%m-%d')}", "",
             (f"Engine alone (ChatterboxEngine), one process per model: {args.calls} generate calls one after "
              "another, one chunk each, the built-in voice, "
              f"{'not watermarked' if args.no_watermark else 'watermarked (the default)'}, T3 capped at 16 "
              f"tokens; random weights. RSS after call {args.warm_up} (the warm-up), after call {half_call} and "
              "at the end; growth per call is the least-squares slope of RSS from the warm-up on, and over the "
              f"second half. Whole run: {minutes:.1f} min, checkpoints built included."), "",
             (f"| model | checkpoint | RSS loaded MB | RSS after call {args.warm_up} MB | RSS after call {half_call} "
              f"MB | RSS after call {args.calls} MB | growth from call {args.warm_up} MB | growth per call MB | "
              "growth per call, second half MB | s a call (p50) |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", *rows, "",
             "RSS (MB) after every fifth call:", "",
             "| call | " + " | ".join(series) + " |", "|---:|" + "---:|" * len(series)]
    lines += [f"| {call} | " + " | ".join(f"{rss[call - 1]:,.0f}" for rss in series.values()) + " |"
              for call in range(5, args.calls + 1, 5)]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
