"""Chatterbox end to end through HTTP on this CPU: 1, 4 and 8 concurrent clients on one replica.

Run with `make bench-chatterbox-http`. The embedded default (`serve run serve_config.local.yaml`)
with the random-weight checkpoint of tests/helpers/chatterbox_checkpoint.py and its built-in voice. Random
weights never stop T3, so the deployment's user_config caps every chunk at --tokens tokens: each
request is two chunks (a short first one, then the rest), so concurrent requests meet in T3's
running batch and in S3Gen's passes. Throughput is audio seconds per wall second over all
clients; the 1-client row is the serial baseline of the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.service import ROOT, ServeRun
from tests.helpers.chatterbox_checkpoint import build_checkpoint

TEXT = "Good morning, and welcome aboard. The train leaves in five minutes."
REQUESTS_PER_CLIENT = 2


def speak(client: httpx.Client, seed: int) -> tuple[float, float, float]:
    """(seconds to the first audio byte, seconds to the end, seconds of audio) of one streamed request."""
    started = time.perf_counter()
    first, size = None, 0
    with client.stream("POST", "/v1/audio/speech", json={"model": "chatterbox", "input": TEXT, "seed": seed,
                                                         "response_format": "pcm", "no_watermark": True}) as response:
        response.raise_for_status()
        for part in response.iter_bytes():
            if part and first is None:
                first = time.perf_counter() - started
            size += len(part)
    return first, time.perf_counter() - started, size / 2 / 24_000


def measure(base_url: str, clients: int) -> str:
    with httpx.Client(base_url=base_url, timeout=600) as client, ThreadPoolExecutor(clients) as pool:
        started = time.perf_counter()
        results = list(pool.map(lambda seed: speak(client, seed), range(clients * REQUESTS_PER_CLIENT)))
        wall = time.perf_counter() - started
    audio = sum(seconds for _, _, seconds in results)
    return (f"| {clients} | {len(results)} | {audio / wall:.2f} | {statistics.median(r[0] for r in results):.1f} | "
            f"{statistics.median(r[1] for r in results):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--tokens", type=int, default=25, help="speech tokens per chunk (1 s of audio)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "chatterbox_http_cpu.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = build_checkpoint(Path(scratch))
        batching = {"max_batch_rows": 32, "kv_cache_tokens": 65_536, "max_new_tokens": args.tokens,
                    "s3gen_max_batch": 8}
        with ServeRun(checkpoint_dir=checkpoint, chatterbox_user_config=batching) as service:
            with httpx.Client(base_url=service.base_url, timeout=600) as client:
                speak(client, 0)  # warm-up
            rows = [measure(service.base_url, clients) for clients in args.clients]
    lines = [f"# Chatterbox through HTTP on {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
             "",
             (f"One replica, random weights (2-layer T3, full S3Gen), built-in voice; chunks capped at "
              f"{args.tokens} tokens; {REQUESTS_PER_CLIENT} streamed requests per client, all at once."),
             "",
             "| clients | requests | audio s per s | p50 first audio s | p50 whole request s |",
             "|---:|---:|---:|---:|---:|", *rows]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
