"""Clients that stop reading, through Ray Serve's own HTTP proxy and the guard it runs (ingress/proxy_guard.py),
over TLS to the session's real Kokoro. The gateway tier (tests/gateway/test_hostile_clients.py) runs the guard
in-process; this shows that the proxy loads it and cuts the stream there."""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from ray import serve

from tests.helpers.served import gateway_over_test_engines
from tests.helpers.stalled_client import stalled_request

STALL_TIMEOUT_S = 2
LONG_TEXT = "The lighthouse keeper climbed the stairs and lit the lamp for the ships at sea. " * 40
STALLED = re.compile(r'^ray_chorus_stalled_streams(?:_total)?\{[^}]*kind="http"[^}]*\} ([0-9.e+]+)$', re.MULTILINE)


@pytest.fixture(scope="module")
def stalling(client, voice_library):
    """A gateway of two request slots that cuts a stream after STALL_TIMEOUT_S without a byte taken."""
    settings = {"require_auth": False, "stall_timeout_s": STALL_TIMEOUT_S, "max_concurrent_requests": 2,
                "max_concurrent_per_client": 2}
    serve.run(gateway_over_test_engines(settings, voice_library), name="stalling", route_prefix="/stalling")
    yield client
    serve.delete("stalling")


def stalled_stream(base_url: str, tls_context) -> socket.socket:
    """A TLS connection that asks for a long PCM stream and never reads it."""
    address = urlsplit(base_url)
    return stalled_request(address.hostname, address.port, "/stalling/v1/audio/speech",
                           {"input": LONG_TEXT, "voice": "jm_kumo", "response_format": "pcm"}, tls_context=tls_context)


def stalled_streams_counted(metrics_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    return sum(float(value) for value in STALLED.findall(text))


def test_the_proxy_cuts_streams_nobody_reads_and_frees_their_slots(stalling, base_url, tls_context, metrics_port):
    counted_before = stalled_streams_counted(metrics_port)
    stalled = [stalled_stream(base_url, tls_context) for _ in range(2)]
    try:
        for connection in stalled:  # both hold a slot before the polite client asks: their status line, then no more
            assert connection.recv(12) == b"HTTP/1.1 200"
        start = time.monotonic()
        while (polite := stalling.post("/stalling/v1/audio/speech", json={"input": "Hello there.", "voice": "jm_kumo",
                                                                          "response_format": "wav"})).status_code == 503:
            assert time.monotonic() - start < 60, "the stalled streams kept every slot"
            time.sleep(0.2)
        assert polite.status_code == 200 and polite.content.startswith(b"RIFF")
        deadline = time.monotonic() + 60  # Ray exports its metrics every few seconds
        while stalled_streams_counted(metrics_port) < counted_before + 2:
            assert time.monotonic() < deadline, "the proxy did not count two cut streams"
            time.sleep(1)
    finally:
        for connection in stalled:
            connection.close()
    # Nothing is left rendering for them: the session's Kokoro has no piece waiting.
    deadline = time.monotonic() + 30
    while stalling.get("/health").json()["engines"]["kokoro"]["queued_pieces"]:
        assert time.monotonic() < deadline, "Kokoro still renders for the cut streams"
        time.sleep(0.5)
