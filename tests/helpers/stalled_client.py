"""A client that asks for a stream and never reads it, over a raw socket (the HTTP clients all read)."""

from __future__ import annotations

import json
import socket
import ssl


def stalled_request(host: str, port: int, path: str, body: dict, source: str | None = None,
                    tls_context: ssl.SSLContext | None = None) -> socket.socket:
    """POST `body` as JSON to `path` from `source` (a loopback address: a client of its own when auth is off),
    with a 4 KB receive buffer, and return the connection unread."""
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    if source is not None:
        connection.bind((source, 0))
    connection.connect((host, port))
    if tls_context is not None:
        connection = tls_context.wrap_socket(connection, server_hostname=host)
    payload = json.dumps(body)
    connection.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(payload)}\r\n\r\n{payload}".encode())
    return connection
