"""Asynchronous jobs on this CPU: enqueue-to-start latency and jobs per second, short Kokoro tts jobs.

Run with `make bench-jobs`. Starts `serve run` on the embedded default config (a free port;
its Redis is the embedded one, data in data/redis/), then submits short tts jobs through
POST /run: one at a time (the queue's own overhead), then in bursts (the queue drains at the
pace of the consumers and Kokoro). Enqueue-to-start is the server's `delayTime`: from the
gateway accepting the job to a consumer starting it. Prints a Markdown table.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import time

import httpx

from bench.service import ServeRun

TEXT = "Your order is ready for pickup at the front desk."
JOB = {"input": {"operation": "tts", "mode": "basic", "text": TEXT, "voice_name": "jm_kumo"}}
SEQUENTIAL_JOBS = 10
BURSTS = (8, 32)
POLL_S = 0.05


CLIENT_CONCURRENCY = 8  # requests in flight at once, well under the gateway's admission limit


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def submit(client: httpx.AsyncClient, gate: asyncio.Semaphore) -> dict:
    async with gate:
        started = time.perf_counter()
        response = await client.post("/run", json=JOB)
        response.raise_for_status()
        return {"id": response.json()["id"], "submitted_at": started, "submit_s": time.perf_counter() - started}


async def wait_all(client: httpx.AsyncClient, gate: asyncio.Semaphore, jobs: list[dict]) -> list[dict]:
    """Poll until every job is final; each job's end comes from the server's own times, not the poll's."""
    async def status(job: dict) -> dict:
        async with gate:
            return (await client.get(f"/status/{job['id']}")).json()

    pending = list(jobs)
    while pending:
        await asyncio.sleep(POLL_S)
        for job, result in zip(pending, await asyncio.gather(*(status(job) for job in pending)), strict=True):
            if result["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
                if result["status"] != "COMPLETED":
                    raise RuntimeError(f"job {job['id']} ended {result['status']}: {result.get('error')}")
                job.update(result, done_at=job["submitted_at"] + (result["delayTime"] + result["executionTime"]) / 1000)
        pending = [job for job in pending if "done_at" not in job]
    return jobs


async def run_jobs(client: httpx.AsyncClient, count: int, at_once: bool) -> tuple[list[dict], float]:
    """`count` jobs, submitted together or each after the previous finished; returns them and the wall time."""
    gate = asyncio.Semaphore(CLIENT_CONCURRENCY)
    start = time.perf_counter()
    if at_once:
        jobs = await wait_all(client, gate, await asyncio.gather(*(submit(client, gate) for _ in range(count))))
    else:
        jobs = [(await wait_all(client, gate, [await submit(client, gate)]))[0] for _ in range(count)]
    return jobs, max(job["done_at"] for job in jobs) - start


def summarize(name: str, jobs: list[dict], wall_s: float) -> list[str]:
    delays = [job["delayTime"] for job in jobs]
    audio_s = sum(job["output"]["duration"] for job in jobs)
    submit_ms = statistics.median(job["submit_s"] for job in jobs) * 1000
    return [name, str(len(jobs)), f"{percentile(delays, 0.5):.0f} ms", f"{percentile(delays, 0.95):.0f} ms",
            f"{submit_ms:.0f} ms", f"{len(jobs) / wall_s:.2f}", f"{audio_s / wall_s:.2f}"]


async def measure(base_url: str) -> list[list[str]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        await run_jobs(client, 2, at_once=False)  # warm up the consumer threads and Kokoro
        rows = [summarize("one at a time", *await run_jobs(client, SEQUENTIAL_JOBS, at_once=False))]
        for size in BURSTS:
            rows.append(summarize(f"burst of {size}", *await run_jobs(client, size, at_once=True)))
        return rows


def main() -> None:
    with ServeRun() as service:
        jobs = service.config["applications"][0]["args"]["jobs"]
        rows = asyncio.run(measure(service.base_url))
    header = ["submission", "jobs", "enqueue-to-start p50", "enqueue-to-start p95", "POST /run p50", "jobs/s",
              "audio s/s"]
    print(f"Chorus jobs, Kokoro int8 ONNX on {platform.machine()} CPU, {os.cpu_count()} cores, "
          f"serve_config.local.yaml ({jobs.get('consumer_replicas', 1)} consumer x "
          f"{jobs.get('consumer_concurrency', 2)} threads), text of {len(TEXT)} characters ({time.strftime('%Y-%m-%d')})")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
