"""Kokoro on this CPU: engine alone vs through HTTP, time to first audio, concurrency, health under load.

Run with `make bench`. Starts `serve run` on the embedded default config (moved to a free
port on 127.0.0.1), prints a Markdown table and writes it to bench/results/. The engine
alone is measured in this process while that service idles, alternating with the HTTP runs,
so both see the same machine.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import time

import httpx

from bench.service import ROOT, ServeRun

RATE = 24_000
TEXTS = [
    "The old lighthouse keeper climbed the stairs every evening to light the lamp.",
    "On March 3rd, 2025, the team shipped version 2.1, which was 40% faster than before.",
    "Rain tapped against the window while the kettle began to whistle in the kitchen.",
    "She counted the boats in the harbour: seven sailing boats, three ferries and a tug.",
]
TEXT_600 = (
    "Chorus serves speech for many listeners at once. Each request is split into sentences, and every sentence is "
    "spoken as soon as it is ready, so the first words reach the listener long before the last ones are made. "
    "The gateway encodes the audio while the model keeps working on what comes next. When several people ask at "
    "the same moment, the opening of every request goes first, so nobody waits behind a long story. The health "
    "check answers at once even while the model is busy, because inference runs on its own worker threads."
)
CLIENT_TEXT = TEXT_600[:300].rsplit(".", 1)[0] + "."


class EngineDirect:
    """The Kokoro engine in this process, configured as the service's replica is."""

    def __init__(self, kokoro_args: dict):
        from deployments.kokoro.deployment import build_backend
        from deployments.kokoro.engine import KokoroEngine
        from deployments.kokoro.settings import KokoroSettings

        settings = KokoroSettings.model_validate(kokoro_args)
        self.engine = KokoroEngine.from_packages(build_backend(settings), settings.voice_dirs,
                                                 settings.voice_aliases, settings.sentence_pause_s)
        self.run()

    def run(self) -> tuple[float, float]:
        """Audio seconds and wall seconds for TEXTS."""
        from deployments.kokoro.protocol import KokoroRequest

        start = time.perf_counter()
        audio = sum(len(self.engine.synthesize(KokoroRequest(text=text, voice="jm_kumo"))) for text in TEXTS) / RATE
        return audio, time.perf_counter() - start


async def http_whole(client: httpx.AsyncClient) -> tuple[float, float]:
    start = time.perf_counter()
    audio = 0.0
    for text in TEXTS:
        response = await client.post("/v1/audio/speech", json={
            "input": text, "voice": "jm_kumo", "response_format": "pcm", "stream": False})
        audio += len(response.content) / 2 / RATE
    return audio, time.perf_counter() - start


async def streamed(client: httpx.AsyncClient, text: str) -> tuple[float, float, float]:
    """Time to first audio byte, total time and audio seconds of one streamed pcm request."""
    start = time.perf_counter()
    first = None
    size = 0
    async with client.stream("POST", "/v1/audio/speech",
                             json={"input": text, "voice": "jm_kumo", "response_format": "pcm"}) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            if chunk and first is None:
                first = time.perf_counter() - start
            size += len(chunk)
    return first, time.perf_counter() - start, size / 2 / RATE


async def concurrent(client: httpx.AsyncClient, clients: int, requests_each: int) -> dict:
    async def one_client() -> list[tuple[float, float, float]]:
        return [await streamed(client, CLIENT_TEXT) for _ in range(requests_each)]

    health_latencies: list[float] = []
    health_failures: list[str] = []
    done = asyncio.Event()

    async def poll_health() -> None:
        while not done.is_set():
            start = time.perf_counter()
            response = await client.get("/health")
            health_latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                health_failures.append(response.text)
            await asyncio.sleep(0.25)

    poller = asyncio.create_task(poll_health())
    start = time.perf_counter()
    results = [r for batch in await asyncio.gather(*(one_client() for _ in range(clients))) for r in batch]
    wall = time.perf_counter() - start
    done.set()
    await poller
    first_audio = [r[0] for r in results]
    return {
        "clients": clients,
        "audio_per_s": sum(r[2] for r in results) / wall,
        "ttfa_p50": statistics.median(first_audio),
        "ttfa_max": max(first_audio),
        "health_p50": statistics.median(health_latencies),
        "health_max": max(health_latencies),
        "health_failures": health_failures,
    }


async def http_measurements(base_url: str, direct: EngineDirect) -> dict:
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=base_url, timeout=300, limits=limits) as client:
        await client.post("/v1/audio/speech", json={"input": "Warm up.", "voice": "jm_kumo", "response_format": "pcm"})
        direct_runs, http_runs = [], []
        for _ in range(2):  # alternate, so drift in machine load hits both sides alike
            direct_runs.append(direct.run())
            http_runs.append(await http_whole(client))
        await streamed(client, TEXT_600)
        ttfa_600 = await streamed(client, TEXT_600)
        loads = [await concurrent(client, n, 2) for n in (1, 4, 8)]
    return {"direct": direct_runs, "whole": http_runs, "ttfa_600": ttfa_600, "loads": loads}


def run() -> str:
    with ServeRun() as service:
        direct = EngineDirect(service.config["applications"][0]["args"]["kokoro"])
        measured = asyncio.run(http_measurements(service.base_url, direct))

    direct_audio, direct_wall = (sum(values) for values in zip(*measured["direct"]))
    http_audio, http_wall = (sum(values) for values in zip(*measured["whole"]))
    direct_rtf, http_rtf = direct_audio / direct_wall, http_audio / http_wall
    first, total, audio = measured["ttfa_600"]
    rows = [
        ("Engine direct, real-time factor (x real time)", f"{direct_rtf:.2f}x", "2.9x"),
        ("Through HTTP, same texts (x real time)", f"{http_rtf:.2f}x", "-"),
        ("HTTP loss vs engine direct (target < 10%)", f"{(1 - http_rtf / direct_rtf) * 100:.1f}%", "-"),
        ("600 chars streamed: first audio / total / audio (target first < 0.5 s)",
         f"{first:.2f} s / {total:.2f} s / {audio:.1f} s", "1.55 s / - / 14.4 s"),
    ]
    for load in measured["loads"]:
        n = load["clients"]
        rows.append((f"{n} client(s): audio seconds per second", f"{load['audio_per_s']:.2f}",
                     "2.7" if n == 4 else "-"))
        rows.append((f"{n} client(s): time to first audio p50 / max (target < 2 s at 4)",
                     f"{load['ttfa_p50']:.2f} s / {load['ttfa_max']:.2f} s", "-"))
        rows.append((f"{n} client(s): /health latency p50 / max while busy (target < 100 ms)",
                     (f"{load['health_p50'] * 1000:.0f} ms / {load['health_max'] * 1000:.0f} ms"
                     f", {len(load['health_failures'])} not ok"),
                     "11.7 s" if n == 4 else "-"))
    header = (f"Kokoro int8 ONNX on {platform.machine()} CPU, {os.cpu_count()} cores, "
              f"config serve_config.local.yaml ({time.strftime('%Y-%m-%d')})\n\n")
    table = "| measure | Chorus | peer (same machine) |\n|---|---|---|\n"
    table += "\n".join(f"| {name} | {ours} | {peer} |" for name, ours, peer in rows)
    return header + table + "\n"


if __name__ == "__main__":
    report = run()
    print(report)
    (ROOT / "bench" / "results" / "kokoro_cpu.md").write_text(report)
