"""Clients that would lock the others out, against the embedded default: real Kokoro behind Ray Serve's proxy,
the proxy guard (ingress/proxy_guard.py) and the gateway's admission, each scenario on a `serve run` of its own.

Run with `make bench-hostile-clients`. Three scenarios, as issue 22 states them:
- 24 raw connections, each from its own loopback address, ask for a long PCM stream and never read it
  (a 4 KB receive buffer); a polite client asks for "Hello there." once a second until it is served;
- 40 stream-input WebSockets from one address each send about 2,000 characters and read nothing; the same
  polite request, timed against the same request unloaded (medians of three);
- one API key opens 16 streams at once (a share of 8 with 16 slots); a second key asks for speech meanwhile.
Prints a Markdown table and writes it to bench/results/hostile_clients_cpu.md.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
from websockets.asyncio.client import connect

from bench.service import ROOT, ServeRun
from bench.tables import cpu_name, publish
from ingress.auth import key_digest
from ingress.settings import GatewaySettings
from tests.helpers.stalled_client import stalled_request

POLITE = {"input": "Hello there.", "voice": "jm_kumo", "response_format": "wav"}
LONG_TEXT = ("The harbour was quiet in the early morning, and the boats rocked gently on the grey water. " * 44)[:4000]
STALLED = 24
GREEDY_SOCKETS = 40
GREEDY_TEXT = "We leave the harbour at seven and sail north along the coast, towards the island. " * 25
KEYS = ("greedy-key", "second-key")
POLITE_ADDRESS = "127.0.0.200"


def polite_seconds(base_url: str, headers: dict | None = None) -> tuple[int, float]:
    """The polite client's request, from an address of its own (with auth off, an address is a client)."""
    start = time.perf_counter()
    with httpx.Client(transport=httpx.HTTPTransport(local_address=POLITE_ADDRESS), timeout=120) as client:
        reply = client.post(f"{base_url}/v1/audio/speech", json=POLITE, headers=headers)
    return reply.status_code, time.perf_counter() - start


def kokoro_queue(base_url: str) -> int:
    return httpx.get(f"{base_url}/health", timeout=30).json()["engines"]["kokoro"]["queued_pieces"]


def stalled_readers() -> list[str]:
    with ServeRun() as service, ExitStack() as sockets:
        port = int(service.base_url.rsplit(":", 1)[1])
        unloaded = statistics.median(polite_seconds(service.base_url)[1] for _ in range(3))
        gateway = GatewaySettings.model_validate(service.config["applications"][0]["args"]["gateway"])
        stall_timeout_s = gateway.stall_timeout_s
        start = time.perf_counter()
        for index in range(STALLED):
            stalled = stalled_request("127.0.0.1", port, "/v1/audio/speech",
                                      {"input": LONG_TEXT, "voice": "jm_kumo", "response_format": "pcm"},
                                      source=f"127.0.0.{index + 2}")
            sockets.callback(stalled.close)
        refused, queue_while_held = 0, 0
        while True:
            queue_while_held = max(queue_while_held, kokoro_queue(service.base_url))
            status, _ = polite_seconds(service.base_url)
            if status == 200:
                break
            refused += 1
            time.sleep(1)
        served_after = time.perf_counter() - start
        while kokoro_queue(service.base_url) and time.perf_counter() - start < served_after + 60:
            time.sleep(0.5)
        drained_after = time.perf_counter() - start
        queue_after = kokoro_queue(service.base_url)
    return [(f"| {STALLED} connections that never read (stall_timeout_s {stall_timeout_s:g}) "
            f"| polite served {served_after:.1f} s after they connected ({refused} x 503 before; "
            f"unloaded {unloaded:.2f} s) | Kokoro pieces queued: {queue_while_held} at most while held, "
             f"{queue_after} at {drained_after:.1f} s (their work cancelled) |")]


async def greedy_socket(base_url: str, opened: asyncio.Event) -> int | None:
    """A socket that sends its text and reads nothing; its close code, if the server closes it."""
    url = base_url.replace("http://", "ws://", 1) + "/v1/text-to-speech/jm_kumo/stream-input"
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"text": " "}))
        await ws.send(json.dumps({"text": GREEDY_TEXT, "flush": True}))
        opened.set()
        await asyncio.sleep(3)  # the library takes a refusal's close frame meanwhile; the scenario reads nothing
        return ws.close_code


async def greedy_websockets_run(base_url: str) -> tuple[float, tuple[int, float], list]:
    unloaded = statistics.median([(await asyncio.to_thread(polite_seconds, base_url))[1] for _ in range(3)])
    opened = [asyncio.Event() for _ in range(GREEDY_SOCKETS)]
    greedy = [asyncio.create_task(greedy_socket(base_url, event)) for event in opened]
    for event in opened:
        await event.wait()
    loaded = await asyncio.to_thread(polite_seconds, base_url)
    return unloaded, loaded, await asyncio.gather(*greedy, return_exceptions=True)


def greedy_websockets() -> list[str]:
    with ServeRun() as service:
        unloaded, (status, loaded), closes = asyncio.run(greedy_websockets_run(service.base_url))
    return [(f"| {GREEDY_SOCKETS} WebSockets from one address, each sent {len(GREEDY_TEXT)} characters and reads "
             f"nothing | polite (another address): {status} in {loaded:.2f} s against {unloaded:.2f} s unloaded "
             f"({loaded / unloaded:.2f}x) | {closes.count(1013)} closed with 1013 (past the client's share), "
             f"{closes.count(None)} held |")]


def one_key_streams(base_url: str, key: str, count: int) -> list[int]:
    async def stream(client: httpx.AsyncClient) -> int:
        body = {"input": LONG_TEXT[:600], "voice": "jm_kumo", "response_format": "pcm"}
        async with client.stream("POST", "/v1/audio/speech", json=body) as reply:
            async for _ in reply.aiter_bytes():
                pass
            return reply.status_code

    async def all_at_once() -> list[int]:
        async with httpx.AsyncClient(base_url=base_url, timeout=300,
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            return await asyncio.gather(*(stream(client) for _ in range(count)))

    return asyncio.run(all_at_once())


def per_key_share() -> list[str]:
    gateway = {"require_auth": True, "api_key_hashes": [key_digest(key) for key in KEYS]}
    with ServeRun(gateway=gateway) as service, ThreadPoolExecutor(1) as greedy_client:
        second = {"Authorization": f"Bearer {KEYS[1]}"}
        unloaded = statistics.median(polite_seconds(service.base_url, second)[1] for _ in range(3))
        greedy = greedy_client.submit(one_key_streams, service.base_url, KEYS[0], 16)
        time.sleep(1)  # the greedy key's streams are in flight
        status, loaded = polite_seconds(service.base_url, second)
        statuses = greedy.result()
    return [(f"| one key, 16 streams at once (share 8 of 16 slots) | second key: {status} in {loaded:.2f} s "
            f"(unloaded {unloaded:.2f} s) | greedy key: {statuses.count(429)} x 429, {statuses.count(200)} x 200 |")]


def main() -> None:
    rows = stalled_readers() + greedy_websockets() + per_key_share()
    lines = [f"# Hostile clients on the embedded default ({cpu_name()})", "",
             ("Real Kokoro (int8 ONNX) behind Ray Serve's proxy with the proxy guard; each scenario on a fresh "
             "`serve run` of serve_config.local.yaml. `make bench-hostile-clients`."), "",
             "| scenario | polite client | held |", "|---|---|---|", *rows]
    publish(lines, ROOT / "bench" / "results" / "hostile_clients_cpu.md")


if __name__ == "__main__":
    main()
