"""The wire side of the collector's HTTP server: what a connection holds, and framing refused before h11.

h11 parses strictly, but it merges equal repeated Content-Length headers, lets Transfer-Encoding win over
Content-Length, unfolds obs-fold lines and takes bare LF as a line end - each of which a proxy in front may
read differently (request smuggling). `check_head` refuses those on the raw head first.
"""

from __future__ import annotations

import json
import socket

import h11

from govwatch.collector.httpd import Headers

REASONS = {400: "Bad Request", 408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
            431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
            503: "Service Unavailable", 505: "HTTP Version Not Supported"}


def check_head(head: bytes) -> tuple[int, str] | None:
    """Refuse framing that two parsers could read differently; None when the head is acceptable."""
    if head.count(b"\n") != head.count(b"\r\n") or head.count(b"\r") != head.count(b"\r\n"):
        return 400, "bare CR or LF in the request head"
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        return 400, "request line must be METHOD TARGET HTTP/1.1"
    if parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
        return 505, "only HTTP/1.0 and HTTP/1.1 are spoken here"
    lengths = encodings = 0
    for line in lines[1:]:
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            return 400, "folded header lines are not accepted"
        name, _, value = line.partition(b":")
        name = name.lower()
        if name == b"content-length":
            lengths += 1
            if not value.strip().isdigit() or len(value.strip()) > 18:
                return 400, "bad Content-Length header"
        elif name == b"transfer-encoding":
            encodings += 1
    if lengths > 1:
        return 400, "Content-Length given more than once"
    if encodings > 1 or (encodings and lengths):
        return 400, "Transfer-Encoding with Content-Length (or twice) is refused"
    return None


def raw_error(status: int, reason: str, extra: str = "") -> bytes:
    """A complete `Connection: close` error answer, for problems found before a request exists."""
    body = json.dumps({"error": reason}).encode()
    return (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n").encode() + body


class Conn:
    """One client connection and where it is in its request cycle."""

    def __init__(self, sock: socket.socket, host: str, now: float, deadline: float, state: str) -> None:
        self.sock, self.host = sock, host
        self.state = state            # handshake | idle | head | body | busy | write | linger
        self.deadline, self.started = deadline, now
        self.parser = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        self.head = bytearray()
        self.body = bytearray()
        self.limit = 0
        self.method = self.target = ""
        self.headers: Headers | None = None
        self.out = memoryview(b"")
        self.keep = False
        self.held = 0                 # body bytes counted in the server's memory budget
