"""Soak of the embedded default: a steady mixed load at a share of its measured capacity, for a bounded time.

Run with `make soak` (20 minutes) or `python -m bench.soak --minutes N --load 0.7`. Starts `serve run`
on serve_config.local.yaml (moved to a free port), measures capacity (requests of the mix that four
back-to-back clients get through per second) for 30 s, then sends requests at `--load` of it: whole mp3 and wav requests,
streamed PCM, the simple API and tts jobs, in a fixed rotation. Every minute it prints each Serve
replica's RSS and open file descriptors, the temp directory's file count and the error count.
Targets: RSS growth under 5% after the first five minutes, flat descriptor and temp-file counts, no
errors.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench.service import ROOT, ServeRun

TEXT = "The ferry left the harbour at dawn, and the gulls followed it across the grey water."
CAPACITY_CLIENTS = 4
CAPACITY_SECONDS = 30
WARM_UP_MINUTES = 5  # RSS growth is measured from here: caches and allocators settle first
# (name, path, JSON body): the rotation every client and the open-loop sender walk through
MIX = [
    ("speech mp3", "/v1/audio/speech", {"input": TEXT, "response_format": "mp3", "stream": False}),
    ("speech pcm stream", "/v1/audio/speech", {"input": TEXT, "response_format": "pcm", "stream": True}),
    ("speech wav", "/v1/audio/speech", {"input": TEXT, "response_format": "wav", "stream": False}),
    ("simple", "/synthesize", {"text": TEXT}),
    ("tts job", "/runsync", {"input": {"operation": "tts", "mode": "basic", "text": TEXT}}),
]


def replica_processes() -> dict[str, psutil.Process]:
    """Serve's replica actors on this machine, by deployment (Ray titles them ray::ServeReplica:app:Name)."""
    found = {}
    for process in psutil.process_iter(["cmdline"]):
        title = " ".join(process.info["cmdline"] or [])
        if title.startswith("ray::ServeReplica:"):
            found[title.split(":")[-1].split()[0]] = process
    return found


def temp_files() -> int:
    """Files in the service's own temp directory (main() gives it one): spooled uploads and the like."""
    return sum(1 for entry in Path(tempfile.gettempdir()).iterdir() if entry.is_file())


async def send(client: httpx.AsyncClient, name: str, path: str, body: dict) -> bool:
    """One request of the mix, read to its end; True when it succeeded."""
    try:
        async with client.stream("POST", path, json=body) as response:
            content = await response.aread()
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    if name == "tts job":
        return content.find(b'"COMPLETED"') >= 0
    return len(content) > 1000


async def capacity(client: httpx.AsyncClient) -> float:
    """Requests of the mix per second that four clients get through, back to back."""
    done = 0
    deadline = time.monotonic() + CAPACITY_SECONDS
    rotation = itertools.cycle(MIX)

    async def one_client():
        nonlocal done
        while time.monotonic() < deadline:
            succeeded = await send(client, *next(rotation))
            done += succeeded  # not `done += await ...`: that reads `done` before the await and loses counts

    started = time.monotonic()
    await asyncio.gather(*(one_client() for _ in range(CAPACITY_CLIENTS)))
    return done / (time.monotonic() - started)


async def soak(base_url: str, minutes: float, load: float) -> tuple[float, list[dict]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=httpx.Limits(max_connections=64)) as client:
        await send(client, *MIX[0])
        rate = await capacity(client) * load
        print(f"capacity x {load:g}: {rate:.2f} requests/s")
        errors = sent = 0
        in_flight: set[asyncio.Task] = set()
        rows: list[dict] = []
        processes = replica_processes()
        started = time.monotonic()
        next_report = started + 60
        rotation = itertools.cycle(MIX)

        def count(task: asyncio.Task) -> None:
            nonlocal errors
            in_flight.discard(task)
            errors += not task.result()

        while time.monotonic() - started < minutes * 60:
            task = asyncio.create_task(send(client, *next(rotation)))
            in_flight.add(task)
            task.add_done_callback(count)
            sent += 1
            await asyncio.sleep(1 / rate)  # open loop: arrivals do not wait for answers
            if time.monotonic() >= next_report:
                next_report += 60
                row = {"minute": round((time.monotonic() - started) / 60), "sent": sent, "errors": errors,
                       "in_flight": len(in_flight), "temp_files": temp_files(),
                       **{f"{name} RSS MB": p.memory_info().rss / 2**20 for name, p in processes.items()},
                       **{f"{name} fds": p.num_fds() for name, p in processes.items()}}
                rows.append(row)
                print(row, flush=True)
        await asyncio.gather(*in_flight)
        rows[-1]["errors"] = errors
        return rate, rows


def report(minutes: float, load: float, rate: float, rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = [(f"Soak of serve_config.local.yaml: {minutes:g} min at {load:.0%} of measured capacity "
             f"({rate:.2f} requests/s of a five-request mix), {platform.node()}, {psutil.cpu_count()} CPUs, "
             f"{time.strftime('%Y-%m-%d')}"), "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(f"{row[c]:.0f}" if isinstance(row[c], float) else str(row[c]) for c in columns) + " |"
              for row in rows]
    settled = [row for row in rows if row["minute"] >= WARM_UP_MINUTES] or rows
    lines.append("")
    for name in [c for c in columns if c.endswith("RSS MB")]:
        growth = settled[-1][name] / settled[0][name] - 1
        lines.append(f"- {name[:-7]}: RSS {growth:+.1%} from minute {settled[0]['minute']} to {settled[-1]['minute']}")
    lines.append(f"- errors: {rows[-1]['errors']} of {rows[-1]['sent']} requests")
    return "\n".join(lines) + "\n"


def run(args) -> tuple[float, list[dict]]:
    with ServeRun() as service:
        return asyncio.run(soak(service.base_url, args.minutes, args.load))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--load", type=float, default=0.7, help="share of the measured capacity")
    args = parser.parse_args()
    # The service (and every Ray worker it starts) inherits TMPDIR: a temp directory of its own, so that
    # the count is of files Chorus leaves, not of other programs' files in /tmp.
    with tempfile.TemporaryDirectory(prefix="chorus-soak-") as private:
        os.environ["TMPDIR"] = tempfile.tempdir = private
        rate, rows = run(args)
    text = report(args.minutes, args.load, rate, rows)
    print(text)
    (ROOT / "bench" / "results" / "soak_cpu.md").write_text(text)


if __name__ == "__main__":
    main()
