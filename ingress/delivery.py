"""How far a client has got with what was sent to it, read from its TCP connection (Linux).

A server's `send` only waits once the kernel's send buffer and the transport's buffer are both full; on
loopback the kernel grows the buffer to megabytes, so a client that never reads can hold a stream for minutes
before a send waits at all (measured: 24 connections that read nothing held the embedded default for 268 s
with a 30 s send timeout). The kernel knows better: TCP_INFO's `tcpi_bytes_acked` grows only when the
client takes bytes (its receive window opens), and SIOCOUTQ says how many bytes still wait for it.
"""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
from dataclasses import dataclass

# struct tcp_info (linux/tcp.h): tcpi_bytes_acked is the u64 after 8 one-byte fields, 24 u32 counters and
# the two u64 pacing rates; kernels before 4.1 stop short of it.
_BYTES_ACKED_OFFSET = 8 + 24 * 4 + 2 * 8
_TCP_INFO_LENGTH = _BYTES_ACKED_OFFSET + 8


@dataclass(frozen=True)
class Progress:
    taken: int  # bytes the client has acknowledged since the connection opened
    waiting: int  # bytes written for it that it has not acknowledged (the transport's and the kernel's)


class Delivery:
    """The TCP connection under one ASGI `send` of uvicorn (the server Ray Serve's proxy runs)."""

    def __init__(self, transport: asyncio.Transport, connection: socket.socket):
        self._transport = transport
        self._connection = connection

    @classmethod
    def of(cls, send) -> Delivery | None:
        """The connection behind `send`, where the server exposes it and the kernel reports on it; else None."""
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        connection = transport.get_extra_info("socket") if transport is not None else None
        if connection is None or connection.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        delivery = cls(transport, connection)
        try:
            delivery.progress()
        except OSError:
            return None
        return delivery

    def progress(self) -> Progress:
        """Raises OSError once the connection has closed."""
        try:
            info = self._connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LENGTH)
        except ValueError as closed:  # uvloop's socket of a closed connection has no file descriptor
            raise OSError("the connection has closed") from closed
        if len(info) < _TCP_INFO_LENGTH:
            raise OSError("this kernel's tcp_info has no tcpi_bytes_acked")
        (taken,) = struct.unpack_from("=Q", info, _BYTES_ACKED_OFFSET)
        unacknowledged = struct.unpack("=i", fcntl.ioctl(self._connection.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
        return Progress(taken, self._transport.get_write_buffer_size() + unacknowledged)
