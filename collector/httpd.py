"""What route handlers see of HTTP (Request, Response) and the limits the collector's server enforces.

The server itself is `govwatch.collector.httploop`: one event-loop thread does all network I/O (accept,
TLS handshakes, reading whole requests, writing answers) and a fixed pool of workers only runs handlers
on requests that have fully arrived. A slow client therefore costs a file descriptor, never a worker,
and the parsing is h11's (strict RFC 9112) with extra refusals for smuggling material on top.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_QUERY_FIELDS = 200


class Headers:
    """Case-insensitive request headers; the last value wins for `get` (a repeated header is unusual)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        self._last = {name.lower(): value for name, value in pairs}

    def get(self, name: str, default: str = "") -> str:
        return self._last.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._last


class Request:
    """What a route handler sees of one HTTP request."""

    def __init__(self, method: str, target: str, headers: Headers, body: bytes, client: str) -> None:
        try:
            path, query = urlsplit(target)[2:4]
        except ValueError:  # e.g. an absolute-form target with a broken [IPv6] host: no route will match
            path, query = target, ""
        self.method = method
        self.target = target
        self.path = path
        query = "&".join(query.split("&", MAX_QUERY_FIELDS)[:MAX_QUERY_FIELDS])
        self.query = {k: v[-1] for k, v in parse_qs(query).items()}
        self.headers = headers
        self.body = body
        self.client = client
        self.identity: dict[str, Any] = {}

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def cookies(self) -> dict[str, str]:
        from http.cookies import SimpleCookie

        jar = SimpleCookie()
        try:
            jar.load(self.header("Cookie"))
        except Exception:  # a malformed cookie header is treated as no cookie
            return {}
        return {k: m.value for k, m in jar.items()}


class Response:
    """A status, headers and body; `json_body` is serialised for you."""

    def __init__(self, status: int = 200, body: bytes | str = b"", content_type: str = "text/plain; charset=utf-8",
                 headers: dict[str, str] | None = None, cookies: list[str] | None = None) -> None:
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.content_type = content_type
        self.headers = headers or {}
        self.cookies = cookies or []  # one Set-Cookie header each

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(data, ensure_ascii=False), "application/json", headers)

    @classmethod
    def error(cls, status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
        return cls.json({"error": reason}, status, headers)

    def header_list(self) -> list[tuple[str, str]]:
        """Every header to send, each value made safe: no CR/LF or other controls, Latin-1 only."""
        pairs = [("Content-Type", self.content_type), ("X-Content-Type-Options", "nosniff"),
                 *self.headers.items(), *(("Set-Cookie", c) for c in self.cookies)]
        return [(name, header_value(value)) for name, value in pairs if name.lower() != "content-length"]


def header_value(value: Any) -> str:
    """A header value that cannot split the response: controls dropped, non-Latin-1 percent-encoded."""
    text = _CONTROL.sub("", str(value))
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        text = quote(text, safe="".join(chr(c) for c in range(0x20, 0x7f) if chr(c) != "%"))
    return text


def local_path(target: str, default: str = "/") -> str:
    """`target` if it is a path on this server (never `//host`, a scheme, a backslash or a control)."""
    if not isinstance(target, str) or _CONTROL.search(target) or "\\" in target:
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return header_value(target)[:2000]


App = Callable[[Request], Response]
# Called as soon as a request's head has arrived: (method, path, headers) -> (body limit, early answer or None).
Admit = Callable[[str, str, Headers], tuple[int, Response | None]]


@dataclass(frozen=True)
class Limits:
    """How much time, data and how many connections a client may use (see collector.yml `limits:`)."""

    max_body: int = 8 * 2**20
    request_timeout: float = 10.0      # the whole head must arrive within this (and a body at min_rate)
    idle_timeout: float = 5.0          # an idle keep-alive connection is closed after this
    min_rate: float = 8192.0           # bytes/s a body (and a response being read) must at least move
    max_head: int = 32 * 1024          # request line + headers
    per_ip: int = 48                   # concurrent connections from one address
    max_connections: int = 1000        # all addresses together; beyond, the stalest waiting one is cut
    handshake_timeout: float = 10.0
    max_buffered: int = 0              # request bytes held across all connections (0: 32 x max_body, >= 64 MiB)

    def buffered_cap(self) -> int:
        return self.max_buffered or max(64 * 2**20, 32 * self.max_body)


@dataclass(frozen=True)
class Handler:
    """The app, its early admission check and the limits: what `make_handler` gives the server."""

    app: App
    limits: Limits
    admit: Admit | None = None


def make_handler(app: App, max_body: int, timeout: float, idle_timeout: float = 5.0, admit: Admit | None = None,
                 **limits: Any) -> Handler:
    return Handler(app, Limits(max_body=max_body, request_timeout=timeout, idle_timeout=idle_timeout, **limits),
                   admit)


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def __getattr__(name: str) -> Any:
    """`PooledServer` moved to httploop; keep the old import path working."""
    if name == "PooledServer":
        from govwatch.collector.httploop import PooledServer

        return PooledServer
    raise AttributeError(name)
