"""Kokoro throughput and latency against batch size, for both backends, engine alone.

Run with `make bench-batching` (`python -m bench.kokoro_batching --max-batch 64`). For each
batch size N, N pieces of mixed length (as concurrent requests bring them) are rendered:
- torch: one padded forward pass of N pieces (what the deployment's @serve.batch runs);
- onnx: N pieces handed to the deployment's worker threads at once (the export has no batch axis).
Throughput is audio seconds per wall second; latency is when each piece's audio is ready.
On a GPU the torch backend runs in half precision, as the cluster config does.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import torch

from bench.service import ROOT
from deployments.kokoro.deployment import build_backend
from deployments.kokoro.engine import KokoroEngine
from deployments.kokoro.protocol import SAMPLE_RATE, KokoroRequest
from deployments.kokoro.settings import KokoroSettings

SENTENCES = [
    "Good morning.",
    "The train to the coast leaves at half past nine.",
    "Please keep your ticket until the end of the journey.",
    "Rain is expected in the afternoon, so bring a coat.",
    "She counted seven sailing boats and three ferries in the harbour.",
    "Thank you for waiting.",
    "The museum opens its new wing to visitors on Saturday, with free entry for children.",
    "Turn left at the bakery, then walk two blocks to the station.",
]


def engine_for(settings: dict) -> KokoroEngine:
    parsed = KokoroSettings.model_validate(settings)
    return KokoroEngine.from_packages(build_backend(parsed), parsed.voice_dirs, parsed.voice_aliases,
                                      parsed.sentence_pause_s)


def pieces(engine: KokoroEngine, count: int):
    requests = [KokoroRequest(text=SENTENCES[i % len(SENTENCES)], voice="jm_kumo") for i in range(count)]
    return [piece for request in requests for piece in engine.plan(request)]


def run_torch(engine: KokoroEngine, batch: list) -> tuple[float, list[float]]:
    started = time.perf_counter()
    rendered = engine.render_batch(batch)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    return sum(len(r.audio) for r in rendered) / SAMPLE_RATE, [wall] * len(batch)


def run_threads(engine: KokoroEngine, batch: list, workers: int) -> tuple[float, list[float]]:
    started = time.perf_counter()

    def render(piece):
        audio = engine.render(piece).audio
        return len(audio), time.perf_counter() - started

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(render, batch))
    return sum(n for n, _ in results) / SAMPLE_RATE, [t for _, t in results]


def measure(name: str, run, engine: KokoroEngine, sizes: list[int], repeats: int) -> list[dict]:
    run(engine, pieces(engine, 2))  # warm up
    rows = []
    for size in sizes:
        batch = pieces(engine, size)
        audio, wall, latencies = 0.0, 0.0, []
        for _ in range(repeats):
            started = time.perf_counter()
            produced, ready = run(engine, batch)
            wall += time.perf_counter() - started
            audio += produced
            latencies += ready
        rows.append({"backend": name, "batch": size, "throughput": audio / wall,
                     "p50": statistics.median(latencies), "max": max(latencies)})
        print(f"{name:6} batch {size:3}: {audio / wall:7.2f} audio-s/s, latency p50 {rows[-1]['p50']:.3f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    sizes = [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= args.max_batch]
    gpu = torch.cuda.is_available()

    torch_engine = engine_for({"backend": "torch", "half": gpu})
    rows = measure("torch", run_torch, torch_engine, sizes, args.repeats)
    onnx_settings = {"backend": "onnx", "intra_op_threads": 2, "inference_workers": 2}
    if gpu:
        onnx_settings["providers"] = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    onnx_engine = engine_for(onnx_settings)
    rows += measure("onnx", lambda e, b: run_threads(e, b, onnx_settings["inference_workers"]), onnx_engine,
                    sizes, args.repeats)

    unbatched = {row["backend"]: row["throughput"] for row in rows if row["batch"] == 1}
    device = torch.cuda.get_device_name() if gpu else f"{platform.machine()} CPU, {os.cpu_count()} cores"
    precision = "float16 decoder" if gpu else "float32"
    title = (f"Kokoro-82M, engine alone, on {device} (torch {torch.__version__}, {torch.get_num_threads()} torch threads, "
             f"{precision}); pieces of mixed length.")
    lines = [
        title,
        "",
        "| backend | batch | audio-s per s | vs batch 1 | latency p50 (s) | latency max (s) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['backend']} | {r['batch']} | {r['throughput']:.2f} | {r['throughput'] / unbatched[r['backend']]:.2f}x "
              f"| {r['p50']:.3f} | {r['max']:.3f} |" for r in rows]
    report = "\n".join(lines) + "\n"
    print(report)
    suffix = "gpu" if gpu else "cpu"
    (ROOT / "bench" / "results" / f"kokoro_batching_{suffix}.md").write_text(report)


if __name__ == "__main__":
    main()
