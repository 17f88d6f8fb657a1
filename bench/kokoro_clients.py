"""The client workload every Kokoro HTTP benchmark runs, against Chorus or a peer server.

Both speak OpenAI's `POST /v1/audio/speech` with raw 24 kHz 16-bit PCM back, so one client
serves both; `speaker` is the request's voice fields for that server, `stream` whether the
response is asked streamed.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import httpx

RATE = 24_000
VOICE = "jm_kumo"
CHORUS = {"voice": VOICE}  # Chorus speaks English (lang_code "a") unless told otherwise
TEXT_180 = ("The old lighthouse keeper climbed the stairs every evening to light the lamp. "
            "She counted the boats in the harbour: seven sailing boats, three ferries and a tug.")
TEXT_600 = (
    "Chorus serves speech for many listeners at once. Each request is split into sentences, and every sentence is "
    "spoken as soon as it is ready, so the first words reach the listener long before the last ones are made. "
    "The gateway encodes the audio while the model keeps working on what comes next. When several people ask at "
    "the same moment, the opening of every request goes first, so nobody waits behind a long story. The health "
    "check answers at once even while the model is busy, because inference runs on its own worker threads."
)
TEXTS = {"180": TEXT_180, "600": TEXT_600}  # by the names; TEXT_600 is 5 sentences, 528 characters
CLIENT_TEXT = TEXT_600[:300].rsplit(".", 1)[0] + "."


@dataclass(frozen=True)
class Timing:
    first_audio_s: float
    wall_s: float
    audio_s: float


async def speak(client: httpx.AsyncClient, text: str, speaker: dict, stream: bool) -> Timing:
    """One request, read to its end: time to its first audio byte, total time, audio seconds."""
    start, first, size = time.perf_counter(), None, 0
    body = {"input": text, **speaker, "response_format": "pcm", "stream": stream}
    async with client.stream("POST", "/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            if chunk and first is None:
                first = time.perf_counter() - start
            size += len(chunk)
    return Timing(first or 0.0, time.perf_counter() - start, size / 2 / RATE)


async def together(client: httpx.AsyncClient, text: str, speaker: dict, streams: int) -> list[float]:
    """First-audio seconds of `streams` streamed requests started at the same instant."""
    results = await asyncio.gather(*(speak(client, text, speaker, stream=True) for _ in range(streams)))
    return [r.first_audio_s for r in results]


@dataclass(frozen=True)
class Load:
    clients: int
    audio_per_s: float
    first_audio_p50: float
    first_audio_max: float


async def clients_for(client: httpx.AsyncClient, clients: int, seconds: float, text: str, speaker: dict) -> Load:
    """`clients` clients each streaming `text` back to back until `seconds` have passed; the rate is
    all their audio over the wall time until the last one finishes."""
    deadline = time.perf_counter() + seconds

    async def one() -> list[Timing]:
        done = []
        while time.perf_counter() < deadline:
            done.append(await speak(client, text, speaker, stream=True))
        return done

    start = time.perf_counter()
    results = [s for batch in await asyncio.gather(*(one() for _ in range(clients))) for s in batch]
    wall = time.perf_counter() - start
    firsts = [s.first_audio_s for s in results]
    return Load(clients, sum(s.audio_s for s in results) / wall, statistics.median(firsts), max(firsts))


def client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=300, limits=httpx.Limits(max_connections=32))
