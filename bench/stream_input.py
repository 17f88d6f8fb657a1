"""Text arriving at LLM speed: ElevenLabs' stream-input WebSocket vs POST /v1/audio/speech (streamed pcm).

Run with `make bench-stream-input`. Starts `serve run` on the embedded default config (a free port on
127.0.0.1). The reply arrives at WORDS_PER_S. Over the WebSocket each word is sent as it arrives and every
sentence is spoken as soon as it is complete; over HTTP a client can only POST once the whole reply is
there. Measured: from the moment the first sentence's last word arrives to its first audio, and from the
first word to the last audio; one client, then CONCURRENT clients at once. Prints a Markdown table and
writes it to bench/results/stream_input_cpu.md.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass

import httpx
from websockets.asyncio.client import connect

from bench.service import ROOT, ServeRun

RATE = 24_000
WORDS_PER_S = 15
CONCURRENT = 4
RUNS = 3  # single-client runs of each path, alternating; medians reported
VOICE = "jm_kumo"
REPLY = ("Sure, here is the plan for tomorrow. We leave the harbour at seven and sail north along the coast. "
         "If the wind holds, we reach the island before noon and have lunch on the beach. "
         "In the afternoon we walk up to the lighthouse, and then we sail home before it gets dark.")
WORDS = REPLY.split()
FIRST_END = next(i for i, word in enumerate(WORDS) if word.endswith((".", "?", "!")))


@dataclass
class Run:
    first_audio_s: float  # from the arrival of the first sentence's last word to the first audio
    total_s: float  # from the arrival of the first word to the last audio
    audio_s: float


async def over_websocket(base_url: str) -> Run:
    url = base_url.replace("http://", "ws://", 1) + f"/v1/text-to-speech/{VOICE}/stream-input"
    url += "?model_id=eleven_flash_v2_5&output_format=pcm_24000"
    async with connect(url, max_size=None) as ws:
        start = time.perf_counter()
        first_end = first_audio = last_audio = 0.0
        audio_bytes = 0

        async def send_words():
            nonlocal first_end
            await ws.send(json.dumps({"text": " "}))
            for index, word in enumerate(WORDS):
                await ws.send(json.dumps({"text": word + " "}))
                if index == FIRST_END:
                    first_end = time.perf_counter()
                await asyncio.sleep(1 / WORDS_PER_S)
            await ws.send(json.dumps({"text": ""}))

        sender = asyncio.create_task(send_words())
        async for raw in ws:
            message = json.loads(raw)
            if "error" in message:
                raise RuntimeError(message)
            if message.get("audio"):
                last_audio = time.perf_counter()
                first_audio = first_audio or last_audio
                audio_bytes += len(base64.b64decode(message["audio"]))
        await sender
    return Run(first_audio - first_end, last_audio - start, audio_bytes / 2 / RATE)


async def over_http(client: httpx.AsyncClient) -> Run:
    """The same reply arriving at the same pace; the POST goes out when its last word is there."""
    start = time.perf_counter()
    first_end = start + FIRST_END / WORDS_PER_S  # when the word would have arrived
    await asyncio.sleep(len(WORDS) / WORDS_PER_S)
    first_audio = last_audio = 0.0
    size = 0
    async with client.stream("POST", "/v1/audio/speech", json={"input": REPLY, "voice": VOICE,
                                                               "response_format": "pcm"}) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            if chunk:
                last_audio = time.perf_counter()
                first_audio = first_audio or last_audio
                size += len(chunk)
    return Run(first_audio - first_end, last_audio - start, size / 2 / RATE)


async def measure(base_url: str) -> dict[str, list[Run]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:
        await client.post("/v1/audio/speech", json={"input": "Warm up.", "voice": VOICE, "response_format": "pcm"})
        await over_websocket(base_url)  # the gateway's first socket learns whether Kokoro gives word timings
        runs: dict[str, list[Run]] = {"ws": [], "http": [], "ws x4": [], "http x4": []}
        for _ in range(RUNS):  # alternate, so drift in machine load hits both paths alike
            runs["ws"].append(await over_websocket(base_url))
            runs["http"].append(await over_http(client))
        runs["ws x4"] = list(await asyncio.gather(*(over_websocket(base_url) for _ in range(CONCURRENT))))
        runs["http x4"] = list(await asyncio.gather(*(over_http(client) for _ in range(CONCURRENT))))
    return runs


def table(runs: dict[str, list[Run]]) -> str:
    names = {"ws": "WebSocket stream-input, 1 client", "http": "POST /v1/audio/speech (stream, pcm), 1 client",
             "ws x4": f"WebSocket stream-input, {CONCURRENT} clients at once",
             "http x4": f"POST /v1/audio/speech (stream, pcm), {CONCURRENT} clients at once"}
    rows = []
    for key, name in names.items():
        first = [r.first_audio_s for r in runs[key]]
        total = [r.total_s for r in runs[key]]
        spread = f" (max {max(first):.2f})" if len(first) > 1 else ""
        rows.append(f"| {name} | {statistics.median(first):.2f}{spread} | {statistics.median(total):.2f} "
                    f"(max {max(total):.2f}) | {statistics.median(r.audio_s for r in runs[key]):.1f} |")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    header = (f"Text arriving at {WORDS_PER_S} words/s ({len(WORDS)} words, {len(WORDS) / WORDS_PER_S:.1f} s to "
              f"arrive; first sentence {FIRST_END + 1} words). Kokoro int8 ONNX, config serve_config.local.yaml.\n"
              f"Machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs; load average after "
              f"the run {load} ({time.strftime('%Y-%m-%d')}). Medians of {RUNS} single-client runs; the "
              f"{CONCURRENT}-client rows are one round (median and max over the clients).\n\n")
    head = ("| path | first sentence's last word -> its first audio (s) | first word -> last audio (s) "
            "| audio (s) |\n|---|---|---|---|\n")
    return header + head + "\n".join(rows) + "\n"


def run() -> str:
    with ServeRun() as service:
        return table(asyncio.run(measure(service.base_url)))


if __name__ == "__main__":
    report = run()
    print(report)
    (ROOT / "bench" / "results" / "stream_input_cpu.md").write_text(report)
