"""Kokoro on this CPU, each figure a share of raw onnxruntime's on the same tokens (the ceiling).

Run with `make bench`. Starts `serve run` on the embedded default config (moved to a free
port on 127.0.0.1), prints a Markdown table and writes it to bench/results/. The ceiling
(bench/kokoro_ceiling.py) and the engine alone are measured in this process while that
service idles, alternating with the HTTP runs, so that every row sees the same machine.
Then: time to first audio of a long text, and 1, 4 and 8 streamed clients at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time

import httpx
import onnxruntime

from bench.cpu_shares import CpuShares
from bench.kokoro_ceiling import GRAPHS, raw_session, serial
from bench.service import ROOT, ServeRun

RATE = 24_000
LAYOUT_KEYS = ("float_convs", "inference_workers", "intra_op_threads", "opening_workers")
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
TOGETHER_TEXT = ". ".join(TEXT_600.split(". ")[:2]) + "."
TOGETHER = 4  # streams started at the same instant


class EngineDirect:
    """The Kokoro deployment's own class outside Serve, configured as the service's replica is: its
    planning, scheduler and thread layout, without Ray or HTTP."""

    def __init__(self, kokoro_args: dict):
        from deployments.kokoro.deployment import KokoroDeployment

        self.kokoro = KokoroDeployment.func_or_class(kokoro_args)
        self.pieces = [piece for text in TEXTS for piece in self.kokoro.engine.plan(self.request(text))]

    @staticmethod
    def request(text: str):
        from deployments.kokoro.protocol import KokoroRequest

        return KokoroRequest(text=text, voice="jm_kumo")

    async def run(self) -> tuple[float, float]:
        """Audio seconds and wall seconds for TEXTS, one request after another."""
        start = time.perf_counter()
        audio = sum([len((await self.kokoro.synthesize(self.request(text))).audio) for text in TEXTS]) / RATE
        return audio, time.perf_counter() - start

    async def first_audio_together(self, streams: int) -> list[float]:
        """Seconds to each stream's first chunk, `streams` streams of TOGETHER_TEXT started at once."""
        async def listen() -> float:
            start, first = time.perf_counter(), None
            async for _ in self.kokoro.stream(self.request(TOGETHER_TEXT)):
                first = first or time.perf_counter() - start
            return first

        return list(await asyncio.gather(*(listen() for _ in range(streams))))


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


async def http_measurements(base_url: str, direct: EngineDirect, ceilings: dict, rounds: int) -> dict:
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=base_url, timeout=300, limits=limits) as client:
        await client.post("/v1/audio/speech", json={"input": "Warm up.", "voice": "jm_kumo", "response_format": "pcm"})
        for session in ceilings.values():
            serial(session, direct.pieces[:1])
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in [*ceilings, "direct", "http"]}
        for _ in range(rounds):  # alternate, so drift in machine load hits every row alike
            for name, session in ceilings.items():
                runs[name].append(serial(session, direct.pieces))
            runs["direct"].append(await direct.run())
            runs["http"].append(await http_whole(client))
        await streamed(client, TEXT_600)
        ttfa_600 = await streamed(client, TEXT_600)
        together = {
            "direct": await direct.first_audio_together(TOGETHER),
            "http": [r[0] for r in await asyncio.gather(*(streamed(client, TOGETHER_TEXT) for _ in range(TOGETHER)))],
        }
        loads = []
        for clients in (1, 4, 8):
            with CpuShares() as shares:
                loads.append(await concurrent(client, clients, 2))
            loads[-1]["cpu"] = shares
        # Measured again after the load rows, to show how far the machine drifted meanwhile.
        runs["int8 after"] = [serial(ceilings["int8"], direct.pieces)]
    return {"runs": runs, "ttfa_600": ttfa_600, "together": together, "loads": loads}


def run(rounds: int) -> str:
    with ServeRun() as service:
        kokoro_args = service.config["applications"][0]["args"]["kokoro"]
        direct = EngineDirect(kokoro_args)
        ceilings = {graph: raw_session(graph, threads=2) for graph in GRAPHS}
        measured = asyncio.run(http_measurements(service.base_url, direct, ceilings, rounds))

    # The same texts on every row: a row's share of the ceiling is the ceiling's mean wall time over its own.
    totals = {name: tuple(statistics.mean(values) for values in zip(*runs)) for name, runs in measured["runs"].items()}
    ceiling_audio, ceiling_wall = totals["int8"]
    ceiling_rtf = ceiling_audio / ceiling_wall

    def same_texts(name: str, label: str, target: str) -> tuple[str, str, str]:
        audio, wall = totals[name]
        return label, f"{audio / wall:.2f}x", f"{ceiling_wall / wall:.2f}{target}"

    first, total, audio = measured["ttfa_600"]
    rows = [
        same_texts("int8", "raw onnxruntime, int8 graph, 2 threads, same tokens: the ceiling (x real time)", ""),
        same_texts("float-conv", "raw onnxruntime, float-conv graph, 2 threads, same tokens", ""),
        same_texts("direct", "Chorus engine direct, same texts", " (target 0.95)"),
        same_texts("http", "Chorus through HTTP, same texts", " (target 0.90)"),
        same_texts("int8 after", "the ceiling again, after the client rows", ""),
        ("600 chars streamed: first audio / total / audio (target first < 0.4 s)",
         f"{first:.2f} s / {total:.2f} s / {audio:.1f} s", "-"),
    ]
    for name, label in (("direct", "engine direct"), ("http", "through HTTP")):
        firsts = measured["together"][name]
        rows.append((f"{TOGETHER} streams started together, {label}: first audio p50 / max",
                     f"{statistics.median(firsts):.2f} s / {max(firsts):.2f} s", "-"))
    ttfa_targets = {4: " (target max < 2 s)", 8: " (target max < 3 s)"}
    for load in measured["loads"]:
        n = load["clients"]
        rows.append((f"{n} streamed client(s): audio seconds per second", f"{load['audio_per_s']:.2f}",
                     f"{load['audio_per_s'] / ceiling_rtf:.2f}" + (" (target 0.90)" if n == 4 else "")))
        rows.append((f"{n} streamed client(s): time to first audio p50 / max{ttfa_targets.get(n, '')}",
                     f"{load['ttfa_p50']:.2f} s / {load['ttfa_max']:.2f} s", "-"))
        rows.append((f"{n} streamed client(s): /health latency p50 / max while busy (target < 100 ms)",
                     (f"{load['health_p50'] * 1000:.0f} ms / {load['health_max'] * 1000:.0f} ms"
                     f", {len(load['health_failures'])} not ok"), "-"))
    layout = ", ".join(f"{key} {kokoro_args[key]}" for key in LAYOUT_KEYS if key in kokoro_args)
    header = (f"Kokoro ONNX on {platform.machine()} CPU, {os.cpu_count()} cores, onnxruntime "
              f"{onnxruntime.__version__}, config serve_config.local.yaml ({layout}); {time.strftime('%Y-%m-%d')}, "
              f"every figure from this one run ({rounds} alternating rounds of the same-text rows)\n\n")
    table = "| measure | Chorus | share of the ceiling |\n|---|---|---|\n"
    table += "\n".join(f"| {name} | {ours} | {share} |" for name, ours, share in rows)
    footer = ("\n\nShare of the ceiling: for the same-text rows, the ceiling's wall time over the row's; for the "
              "clients, their audio rate over the ceiling's (other texts, the same voice).\n")
    profile = "".join(f"\n{load['cpu'].table(f'CPU while {n} streamed clients ran')}"
                      for load in measured["loads"] if (n := load["clients"]) in (1, 4))
    return header + table + footer + profile


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    report = run(parser.parse_args().rounds)
    print(report)
    (ROOT / "bench" / "results" / "kokoro_cpu.md").write_text(report)
