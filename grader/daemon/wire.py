"""One JSON document per line over a Unix socket, each way: what a check sends its server and what comes back."""

from __future__ import annotations

import json
import socket
import struct
import time

MAX_REQUEST_BYTES = 64 * 2**10
MAX_ANSWER_BYTES = 64 * 2**20


class WireError(RuntimeError):
    """The other side sent what is not one JSON document on a line, sent too much, or took too long."""


def send(connection: socket.socket, document: object) -> None:
    """Send one document."""
    connection.sendall(json.dumps(document).encode() + b"\n")


def receive(connection: socket.socket, limit: int, seconds: float) -> object:
    """The one document the other side sends, read within ``seconds`` and ``limit`` bytes; raises WireError."""
    deadline = time.monotonic() + seconds
    received = bytearray()
    while b"\n" not in received:
        left = deadline - time.monotonic()
        if left <= 0:
            raise WireError("no answer in time")
        connection.settimeout(left)
        try:
            chunk = connection.recv(2**16)
        except OSError as error:
            raise WireError(f"the connection failed: {error}") from error
        if not chunk:
            raise WireError("the connection closed before a whole document came")
        received += chunk
        if len(received) > limit:
            raise WireError(f"more than {limit} bytes")
    try:
        return json.loads(received[:received.index(b"\n")])
    except (ValueError, RecursionError) as error:
        raise WireError(f"not a JSON document: {error}") from error


def peer_uid(connection: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket (from the kernel: it cannot be forged)."""
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1]
