"""Chorus against a peer Kokoro server, fastkokoro, in one run: `make bench-peer`.

fastkokoro runs from its own virtual environment (.venv-peer, made by the Makefile target)
offline: on the int8 model Chorus assembles from its PyPI parts and on Chorus's own voice
packs, written to an npz (fastkokoro reads its model and voices from the paths in
FASTKOKORO_MODEL_PATH and FASTKOKORO_VOICES_PATH, and downloads nothing when both are set).
Both servers are up for the whole run and take the same client workload (bench/kokoro_clients.py)
one after the other, in alternating rounds; raw onnxruntime on the packed text, between them,
is the ceiling every figure is a share of.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

import httpx
import numpy as np
import onnxruntime

from bench import kokoro_clients as workload
from bench.cpu_shares import CpuShares
from bench.kokoro_ceiling import GRAPHS, packed_pieces, raw_session, serial
from bench.service import ROOT, ServeRun
from bench.tables import publish
from deployments.kokoro import weights
from deployments.kokoro.voices import VoiceCatalog
from ground.network import free_port

PEER_VENV = ROOT / ".venv-peer"
# fastkokoro checks a voice's name against its language: the Japanese-named pack would refuse English
# text, so the same pack goes in under a name it does not know.
PEER_VOICE = "am_kumo"
PEER = {"voice": PEER_VOICE, "lang": "en-us"}
LABELS = {
    "180 whole x": "180 chars, whole request, x real time",
    "600 whole x": "600 chars (5 sentences), whole request, x real time",
    "600 whole s": "600 chars, whole request, wall time",
    "4 clients audio/s": "4 clients streaming, audio seconds per second",
    "180 first audio s": "180 chars streamed, first audio",
    "600 first audio s": "600 chars streamed, first audio",
    "4 clients first audio max s": "4 clients streaming, first audio max",
}


def peer_voices(path: Path) -> Path:
    """Chorus's bundled packs, and the bench voice under PEER_VOICE, as the npz fastkokoro loads."""
    catalog = VoiceCatalog.load(weights.bundled_voice_packs_file(), [], {})
    np.savez(path, **catalog.packs, **{PEER_VOICE: catalog.resolve(workload.VOICE)})
    return path


class FastKokoroRun:
    """fastkokoro's own server (its `fastkokoro` command) on a free local port for a `with` block."""

    def __enter__(self) -> Self:
        port = free_port()
        cache = weights.DEFAULT_CACHE_DIR
        env = {
            **os.environ,
            "FASTKOKORO_MODEL_PATH": str(weights.onnx_model_path()),
            "FASTKOKORO_VOICES_PATH": str(peer_voices(cache / "fastkokoro-voices.npz")),
            "FASTKOKORO_CACHE_DIR": str(cache / "fastkokoro"),
            "FASTKOKORO_DEFAULT_VOICE": PEER_VOICE,
            "FASTKOKORO_HOST": "127.0.0.1",
            "FASTKOKORO_PORT": str(port),
            "HF_HUB_OFFLINE": "1",  # a download attempted anyway fails at once instead of hanging
        }
        self.base_url = f"http://127.0.0.1:{port}"
        self._process = subprocess.Popen([str(PEER_VENV / "bin" / "fastkokoro")], cwd=ROOT, env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                if httpx.get(f"{self.base_url}/health", timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.__exit__()
        raise RuntimeError("fastkokoro did not become healthy")

    def __exit__(self, *_) -> None:
        self._process.terminate()
        self._process.wait(60)


async def one_round(client: httpx.AsyncClient, speaker: dict, client_s: float) -> dict[str, float]:
    figures = {}
    for name, text in workload.TEXTS.items():
        whole = await workload.speak(client, text, speaker, stream=False)
        figures[f"{name} whole x"] = whole.audio_s / whole.wall_s
        figures[f"{name} whole s"] = whole.wall_s
        figures[f"{name} first audio s"] = (await workload.speak(client, text, speaker, stream=True)).first_audio_s
    load = await workload.clients_for(client, 4, client_s, workload.CLIENT_TEXT, speaker)
    figures["4 clients audio/s"] = load.audio_per_s
    figures["4 clients first audio max s"] = load.first_audio_max
    return figures


async def measure(servers: dict[str, tuple[str, dict]], rounds: int, client_s: float) -> dict:
    sessions = {graph: raw_session(graph, threads=2) for graph in GRAPHS}
    packed = {name: packed_pieces(text, workload.VOICE) for name, text in workload.TEXTS.items()}
    clients = {name: workload.client(url) for name, (url, _) in servers.items()}
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in [*servers, *GRAPHS]}
    shares = {}
    for name, (_, speaker) in servers.items():  # warm-up: first requests allocate
        await workload.speak(clients[name], workload.TEXT_180, speaker, stream=True)
    for index in range(rounds):
        order = list(servers) if index % 2 == 0 else list(reversed(servers))
        for name in order:
            with CpuShares() as shares[name]:
                figures[name].append(await one_round(clients[name], servers[name][1], client_s))
        for graph, session in sessions.items():
            ceiling = {}
            for text, pieces in packed.items():
                audio, wall = serial(session, pieces)
                ceiling[f"{text} whole x"], ceiling[f"{text} whole s"] = audio / wall, wall
            figures[graph].append(ceiling)
    for http in clients.values():
        await http.aclose()
    return {"figures": figures, "shares": shares}


def run(rounds: int, client_s: float) -> list[str]:
    with ServeRun() as chorus, FastKokoroRun() as peer:
        measured = asyncio.run(measure({"Chorus": (chorus.base_url, workload.CHORUS), "fastkokoro": (peer.base_url,
                                        PEER)}, rounds, client_s))
    figures = measured["figures"]
    # The ceiling is whichever graph runs the packed text faster in this run: what a user would pick.
    best = max(GRAPHS, key=lambda graph: statistics.median(f["600 whole x"] for f in figures[graph]))
    figures["ceiling"] = figures[best]

    def median(name: str, key: str) -> float:
        return statistics.median(f[key] for f in figures[name])

    def cell(name: str, key: str, fmt: Callable[[float], str]) -> str:
        values = [f[key] for f in figures[name]]
        return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"

    ceiling_rtf = median("ceiling", "600 whole x")
    rows = []
    for key, fmt, better in [("180 whole x", "{:.2f}x", max), ("600 whole x", "{:.2f}x", max),
                             ("600 whole s", "{:.2f} s", min), ("4 clients audio/s", "{:.2f}", max),
                             ("180 first audio s", "{:.2f} s", min), ("600 first audio s", "{:.2f} s", min),
                             ("4 clients first audio max s", "{:.2f} s", min)]:
        ceiling = cell("ceiling", key, fmt.format) if key in figures["ceiling"][0] else (
            cell("ceiling", "600 whole x", fmt.format) if key == "4 clients audio/s" else "")
        chorus, peer = median("Chorus", key), median("fastkokoro", key)
        ratio = chorus / peer if better is max else peer / chorus  # above 1: Chorus better
        share = ""
        if key.endswith("x") or key == "4 clients audio/s":
            base = median("ceiling", key) if key.endswith("x") else ceiling_rtf
            share = f"{chorus / base:.2f} / {peer / base:.2f}"
        elif key == "600 whole s":
            share = f"{median('ceiling', key) / chorus:.2f} / {median('ceiling', key) / peer:.2f}"
        rows.append(f"| {LABELS[key]} | {ceiling} | {cell('Chorus', key, fmt.format)} | {cell('fastkokoro', key, fmt.format)} "
                    f"| {ratio:.2f} | {share} |")
    version = subprocess.run([str(PEER_VENV / "bin" / "python"), "-c", ("import importlib.metadata as m; "
                              "print(m.version('fastkokoro'))")], check=False, capture_output=True, text=True).stdout.strip()
    return [
        (f"Chorus against fastkokoro {version} on {platform.machine()} CPU ({platform.processor() or platform.node()}), "
        f"{os.cpu_count()} cores, onnxruntime {onnxruntime.__version__} (Chorus and the ceiling); "
        f"{time.strftime('%Y-%m-%d %H:%M')}; both on the int8 model assembled from its PyPI parts and the voice "
        f"{workload.VOICE}, both servers up for the whole run, {rounds} alternating rounds (medians, min–max), "
        f"4 clients x {client_s:.0f} s each round. **Ceiling of this run: {ceiling_rtf:.2f}x real time** (raw "
        f"onnxruntime, {best}, 2 threads, the 600-character text packed; int8 {median('int8', '600 whole x'):.2f}x)."),
        "",
        (f"| measure | ceiling (raw, packed, {best}) | Chorus | fastkokoro | Chorus over fastkokoro (above 1: Chorus better; "
        "target 1.05) | share of the ceiling, Chorus / fastkokoro (target 0.90) |"),
        "|---|---|---|---|---|---|",
        *rows,
        "",
        ("Texts: 180 = 161 characters in 2 sentences, 600 = 528 characters in 5; whole requests are one response, "
        "first audio is a streamed request's first byte; the 4 clients stream a 293-character text back to back."),
        "",
        measured["shares"]["Chorus"].table("CPU during Chorus's last round (fastkokoro idle)"),
        measured["shares"]["fastkokoro"].table("CPU during fastkokoro's last round (Chorus idle)"),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client-seconds", type=float, default=30.0)
    arguments = parser.parse_args()
    publish(run(arguments.rounds, arguments.client_seconds), ROOT / "bench" / "results" / "kokoro_peer_cpu.md")
