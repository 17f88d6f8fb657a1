"""Load test of the embedded default: rising concurrency for a bounded time against 127.0.0.1.

Run with `make load-test`. Starts `serve run` on serve_config.local.yaml (moved to a free
port), then for each concurrency level keeps that many clients sending short speech
requests for a fixed time. Prints requests per second, latency percentiles and errors by
status: below capacity there should be none, above it only clean 503/429s with
Retry-After, and the service must be healthy afterwards.
"""

from __future__ import annotations

import asyncio
import collections
import statistics
import time

import httpx

from bench.service import ROOT, ServeRun

LEVELS = (1, 2, 4, 8, 16, 32, 64)
SECONDS_PER_LEVEL = 15
REQUEST = {"input": "Your table is ready.", "voice": "jm_kumo", "response_format": "mp3", "stream": False}


async def level(client: httpx.AsyncClient, clients: int) -> dict:
    latencies: list[float] = []
    statuses: collections.Counter = collections.Counter()
    bad_shapes = 0
    deadline = time.monotonic() + SECONDS_PER_LEVEL

    async def one_client() -> None:
        nonlocal bad_shapes
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                response = await client.post("/v1/audio/speech", json=REQUEST)
            except httpx.HTTPError as error:
                statuses[type(error).__name__] += 1
                continue
            statuses[response.status_code] += 1
            if response.status_code == 200:
                latencies.append(time.perf_counter() - start)
            if response.status_code in (429, 503):
                clean = "retry-after" in response.headers and "error" in response.json()
                bad_shapes += not clean
                await asyncio.sleep(float(response.headers.get("retry-after", 1)) / 4)

    start = time.monotonic()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    wall = time.monotonic() - start
    ok = statuses[200]
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
    return {"clients": clients, "ok_per_s": ok / wall, "p50": quantiles[49], "p95": quantiles[94],
            "p99": quantiles[98], "statuses": dict(statuses), "bad_shapes": bad_shapes}


async def measure(base_url: str) -> tuple[list[dict], int]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=httpx.Limits(max_connections=128)) as client:
        await client.post("/v1/audio/speech", json=REQUEST)
        results = [await level(client, clients) for clients in LEVELS]
        health = (await client.get("/health")).status_code
    return results, health


def run() -> str:
    with ServeRun() as service:
        results, health = asyncio.run(measure(service.base_url))
    title = (f"Load test: serve_config.local.yaml on 127.0.0.1, {SECONDS_PER_LEVEL} s per level, "
             f"short mp3 requests ({time.strftime('%Y-%m-%d')})")
    lines = [
        title, "",
        "| clients | ok req/s | p50 of ok | p95 of ok | p99 of ok | responses by status | 503/429 without Retry-After or error body |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(r["statuses"].items(), key=str))
        lines.append(f"| {r['clients']} | {r['ok_per_s']:.2f} | {r['p50']:.2f} s | {r['p95']:.2f} s | "
                     f"{r['p99']:.2f} s | {statuses} | {r['bad_shapes']} |")
    lines += ["", f"/health after the test: {health}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    report = run()
    print(report)
    (ROOT / "bench" / "results" / "load_test.md").write_text(report)
