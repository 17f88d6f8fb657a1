"""Clients that would lock the others out, over real sockets against the gateway behind the proxy guard that
Ray Serve's proxy runs (ingress/proxy_guard.py): the gateway's engines are fakes, so the only slow part is
the client that stops reading."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time

import httpx
import pytest
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ingress.delivery import Delivery
from ingress.proxy_guard import STALL_HEADER, ProxyGuard
from tests.helpers.gateway import serve_gateway
from tests.helpers.live_server import live_server
from tests.helpers.stalled_client import stalled_request

# About 60 MB of the fake's PCM at speed 0.25: far more than a loopback socket's buffers (a few MB) hold.
LONG_TEXT = "a a a a a a a a a. " * 2150
MAX_INPUT_CHARS = len(LONG_TEXT)


def stalled_stream(port: int, source: str) -> socket.socket:
    """A connection from `source` that asks for a long PCM stream and never reads it."""
    return stalled_request("127.0.0.1", port, "/v1/audio/speech", {
        "model": "kokoro", "input": LONG_TEXT, "voice": "jm_kumo", "response_format": "pcm", "speed": 0.25},
        source=source)


def until(condition, timeout_s: float) -> float:
    """Seconds until `condition()` held; fails past `timeout_s`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout_s, "condition not reached in time"
        time.sleep(0.05)
    return time.monotonic() - start


def test_clients_that_stop_reading_are_cut_their_slots_freed_and_a_polite_client_served(tmp_path):
    gw = serve_gateway(tmp_path, stall_timeout_s=3, max_concurrent_requests=4, max_input_chars=MAX_INPUT_CHARS)
    admission = gw.app.state.admission
    with live_server(ProxyGuard(gw.app)) as port:
        stalled = [stalled_stream(port, source) for source in ("127.0.0.2", "127.0.0.3") * 2]
        until(lambda: admission.in_flight == 4, 5)
        full = httpx.post(f"http://127.0.0.1:{port}/v1/audio/speech", json={"input": "Hello there.", "voice": "jm_kumo"},
                          timeout=30)
        assert full.status_code == 503  # every slot is held by a client that reads nothing
        waited = until(lambda: admission.in_flight == 0, 3 + 5)
        polite = httpx.post(f"http://127.0.0.1:{port}/v1/audio/speech",
                            json={"input": "Hello there.", "voice": "jm_kumo", "response_format": "wav"})
        assert polite.status_code == 200 and polite.content.startswith(b"RIFF")
        assert STALL_HEADER.decode() not in polite.headers  # the guard's header stays between gateway and proxy
        for connection in stalled:
            connection.close()
    assert waited < 8  # each stalled stream was cut and its slot released within the stall timeout and a margin
    # Their engine work stopped: each stream was cancelled, and all four together rendered less than one of
    # them asked for (2,150 pieces), only what the socket buffers took before the clients stalled.
    assert gw.kokoro.cancelled_streams == 4
    assert gw.kokoro.pieces_rendered < LONG_TEXT.count(".")


def test_a_reading_client_is_never_cut(tmp_path):
    gw = serve_gateway(tmp_path, stall_timeout_s=1, max_input_chars=MAX_INPUT_CHARS)
    body = {"input": LONG_TEXT, "voice": "jm_kumo", "response_format": "pcm"}
    with (live_server(ProxyGuard(gw.app)) as port,
          httpx.stream("POST", f"http://127.0.0.1:{port}/v1/audio/speech", json=body) as response):
        received = sum(len(part) for part in response.iter_bytes())
    assert received > 1 << 20
    assert gw.kokoro.cancelled_streams == 0


def test_clients_cannot_lift_the_proxys_limits(tmp_path):
    seen = {}

    async def app(scope, receive, send):
        seen.update(dict(scope["headers"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with live_server(ProxyGuard(app)) as port:
        httpx.get(f"http://127.0.0.1:{port}/", headers={"x-request-timeout-seconds": "0",
                                                       "x-request-disconnect-disabled": "?1", "x-other": "kept"})
    assert seen[b"x-other"] == b"kept"
    assert b"x-request-timeout-seconds" not in seen and b"x-request-disconnect-disabled" not in seen


def _closed_with(socket_session) -> tuple[int, dict]:
    message = socket_session.receive_json()
    with pytest.raises(WebSocketDisconnect) as closed:
        socket_session.receive_json()
    return closed.value.code, message


def test_past_max_websockets_a_socket_is_closed_with_1013_saying_why(tmp_path):
    gw = serve_gateway(tmp_path, max_websockets=2)
    url = "/v1/text-to-speech/jm_kumo/stream-input"
    with gw.client.websocket_connect(url), gw.client.websocket_connect(url), gw.client.websocket_connect(url) as third:
        code, message = _closed_with(third)
    assert code == 1013 and message["error"] == "too_many_websockets" and "2 WebSockets" in message["message"]
    with gw.client.websocket_connect(url) as again:  # the others closed: room again
        again.send_json({"text": "Hello there. ", "flush": True})
        assert "audio" in again.receive_json()


def test_an_open_socket_counts_against_its_clients_share(tmp_path):
    gw = serve_gateway(tmp_path, max_concurrent_requests=4, max_concurrent_per_client=1)
    with gw.client.websocket_connect("/v1/text-to-speech/jm_kumo/stream-input"):
        over = gw.client.post("/v1/audio/speech", json={"input": "Hello.", "voice": "jm_kumo"})
        with gw.client.websocket_connect("/v1/text-to-speech/jm_kumo/stream-input") as second:
            code, message = _closed_with(second)
    assert over.status_code == 429 and over.json()["error"]["code"] == "client_over_share"
    assert code == 1013 and message["error"] == "client_over_share"
    assert gw.client.post("/v1/audio/speech", json={"input": "Hello.", "voice": "jm_kumo"}).status_code == 200


def test_a_sockets_synthesis_holds_a_request_slot(tmp_path):
    from tests.helpers.fake_engines import FakeKokoro

    gw = serve_gateway(tmp_path, kokoro=FakeKokoro(delay_s=1.5), max_concurrent_requests=1,
                       max_concurrent_per_client=2)
    admission = gw.app.state.admission
    with gw.client.websocket_connect("/v1/text-to-speech/jm_kumo/stream-input") as session:
        session.send_json({"text": "Hello there. ", "flush": True})
        until(lambda: admission.in_flight == 1, 5)
        busy = gw.client.post("/v1/audio/speech", json={"input": "Hello.", "voice": "jm_kumo"})
        assert "audio" in session.receive_json()
    assert busy.status_code == 503
    until(lambda: admission.in_flight == 0, 5)


def _reply_of(size: int, progress: list):
    """An app that answers `size` bytes and notes the client's progress after its sends, and once more later."""
    async def app(scope, receive, send):
        delivery = Delivery.of(send)
        await send({"type": "http.response.start", "status": 200, "headers": []})  # chunked: the client
        # waits for the last chunk, so it is still connected when its progress is read
        for _ in range(0, size, 1 << 16):
            try:
                async with asyncio.timeout(0.5):
                    await send({"type": "http.response.body", "body": b"x" * (1 << 16), "more_body": True})
            except TimeoutError:  # the socket is full: the client reads nothing
                break
            progress.append(delivery.progress())
        await asyncio.sleep(0.5)  # a reading client has all of it by now
        progress.append(delivery.progress())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await send({"type": "http.response.body", "body": b""})
    return app


def test_the_connection_says_what_a_client_has_taken_and_what_waits_for_it():
    size = 1 << 22
    read_all, read_none = [], []
    with live_server(_reply_of(size, read_all)) as port:
        assert len(httpx.get(f"http://127.0.0.1:{port}/").content) == size
    with live_server(_reply_of(size, read_none)) as port:
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(b"GET / HTTP/1.1\r\nHost: chorus\r\n\r\n")
        until(lambda: len(read_none) >= 2 and read_none[-1] == read_none[-2], 10)
        stalled.close()
    assert read_all[-1].taken >= size and read_all[-1].waiting == 0
    assert read_none[-1].taken < size and read_none[-1].waiting > 0


def test_where_the_connection_cannot_be_read_one_send_that_waits_cuts_the_client():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(STALL_HEADER, b"0.2")]})
        await send({"type": "http.response.body", "body": b"more", "more_body": True})
        assert (await receive())["type"] == "http.disconnect"  # what makes Serve's proxy cancel the request

    async def receive():
        await asyncio.Event().wait()  # the client says nothing

    async def send(message):  # a server whose socket is full from the first body on
        if message["type"] == "http.response.body":
            await asyncio.Event().wait()

    asyncio.run(asyncio.wait_for(ProxyGuard(app)({"type": "http", "headers": []}, receive, send), 5))


def test_sockets_opened_together_are_held_to_their_clients_share(tmp_path):
    gw = serve_gateway(tmp_path, max_concurrent_requests=8, max_concurrent_per_client=2)

    async def greedy_socket(url: str) -> int | None:
        async with connect(url, close_timeout=0.5) as ws:  # an admitted socket is not read: no clean close
            with contextlib.suppress(ConnectionClosed):  # a refusal's close may come before the text goes
                await ws.send(json.dumps({"text": "Hello there. " * 50, "flush": True}))
            await asyncio.sleep(1)  # reads nothing; a refusal's close arrives meanwhile
            return ws.close_code

    async def six_at_once(port: int) -> list[int | None]:
        url = f"ws://127.0.0.1:{port}/v1/text-to-speech/jm_kumo/stream-input"
        return await asyncio.gather(*(greedy_socket(url) for _ in range(6)))

    with live_server(ProxyGuard(gw.app)) as port:
        closes = asyncio.run(six_at_once(port))
    assert sorted(closes, key=str) == [1013] * 4 + [None] * 2  # every handshake ran before any socket was served
