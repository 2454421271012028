"""The collector's HTTP(S) server: the standard library's server, hardened for a hostile network.

Why not plain `http.server.ThreadingHTTPServer`: its listen backlog is 5 and it starts one thread per
connection without bound. Here the backlog is 1024, a fixed pool of worker threads serves a bounded
queue of connections (beyond it, new connections wait in the kernel backlog), every socket has a
timeout (a slowloris client is cut off), TLS handshakes run in the worker (a slow handshake never
blocks accept), and bodies are refused by Content-Length before they are read (413).
"""

from __future__ import annotations

import logging
import queue
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

log = logging.getLogger("govwatch.collector.http")


class Request:
    """What a route handler sees of one HTTP request."""

    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(handler.path)
        self.method = handler.command
        self.path = parts.path
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.headers = handler.headers
        self.body = body
        self.client = handler.client_address[0] if handler.client_address else ""
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
        import json

        return cls(status, json.dumps(data, ensure_ascii=False), "application/json", headers)

    @classmethod
    def error(cls, status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
        return cls.json({"error": reason}, status, headers)


App = Callable[[Request], Response]


def make_handler(app: App, max_body: int, timeout: float, idle_timeout: float = 5.0) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "govwatch"
        sys_version = ""

        def setup(self) -> None:
            self.request.settimeout(idle_timeout)
            super().setup()

        def handle_one_request(self) -> None:
            # An idle keep-alive connection gives its worker back after idle_timeout; once a request has
            # started, each read may take up to `timeout` (slow links), never longer.
            self.connection.settimeout(idle_timeout)
            super().handle_one_request()

        def parse_request(self) -> bool:
            self.connection.settimeout(timeout)
            return super().parse_request()

        def _serve(self) -> None:
            length_text = self.headers.get("Content-Length")
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                return self._send(Response.error(411, "send a Content-Length; chunked bodies are not accepted"),
                                  close=True)
            try:
                length = int(length_text or 0)
                if length < 0:
                    raise ValueError
            except ValueError:
                return self._send(Response.error(400, "bad Content-Length header"), close=True)
            if length > max_body:
                self._send(Response.error(413, f"body of {length} bytes is over the limit of {max_body}"), close=True)
                return self._drain(length)
            body = self.rfile.read(length) if length else b""
            if len(body) != length:
                self.close_connection = True
                return None
            try:
                response = app(Request(self, body))
            except Exception:  # a bug must cost one request, never the collector
                log.exception("unhandled error serving %s %s", self.command, self.path)
                response = Response.error(500, "internal error (logged on the collector)")
            return self._send(response)

        def _send(self, response: Response, close: bool = False) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            for name, value in response.headers.items():
                self.send_header(name, value)
            for cookie in response.cookies:
                self.send_header("Set-Cookie", cookie)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def _drain(self, length: int) -> None:
            """Read and drop an oversized body (bounded) so the client sees the 413 rather than a reset."""
            left = min(length, 256 * 2**20)
            try:
                while left > 0:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    left -= len(chunk)
            except OSError:
                pass

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("%s %s", self.client_address[0] if self.client_address else "-", fmt % args)

    return Handler


class PooledServer(socketserver.TCPServer):
    """TCPServer with a large backlog, a fixed worker pool and optional TLS done in the workers."""

    request_queue_size = 1024
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], threads: int,
                 tls: ssl.SSLContext | None = None, handshake_timeout: float = 10.0, per_ip: int = 48,
                 on_refused: Callable[[str], None] | None = None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self.tls, self.handshake_timeout = tls, handshake_timeout
        self.per_ip, self.on_refused = per_ip, on_refused
        self._per_ip: dict[str, int] = {}
        self._open: set[socket.socket] = set()
        self._count_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(maxsize=threads * 8)
        self._workers = [threading.Thread(target=self._work, name=f"http-{i}", daemon=True) for i in range(threads)]
        for worker in self._workers:
            worker.start()

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        """Queue the connection for a worker, unless its address already holds `per_ip` of them."""
        host = client_address[0] if client_address else ""
        with self._count_lock:
            held = self._per_ip.get(host, 0)
            if held >= self.per_ip:
                refused = True
            else:
                refused = False
                self._per_ip[host] = held + 1
        if refused:
            self.shutdown_request(request)
            if self.on_refused is not None:
                self.on_refused("too_many_connections")
            return
        self._queue.put((request, client_address))

    def _release(self, client_address: Any) -> None:
        host = client_address[0] if client_address else ""
        with self._count_lock:
            left = self._per_ip.get(host, 1) - 1
            if left > 0:
                self._per_ip[host] = left
            else:
                self._per_ip.pop(host, None)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            sock, address = item
            with self._count_lock:
                self._open.add(sock)
            try:
                if self.tls is not None:
                    sock.settimeout(self.handshake_timeout)
                    sock = self.tls.wrap_socket(sock, server_side=True)
                self.finish_request(sock, address)
            except (OSError, ssl.SSLError) as exc:
                log.debug("connection from %s dropped: %s", address, exc)
            except Exception:
                log.exception("connection from %s failed", address)
            finally:
                with self._count_lock:
                    self._open.discard(item[0])
                self.shutdown_request(sock)
                self._release(address)

    def server_close(self) -> None:
        """Stop accepting, cut idle keep-alive connections (a stop must not wait for clients), join workers."""
        super().server_close()
        workers = getattr(self, "_workers", None)
        if workers is None:  # bind() failed inside __init__: nothing was started
            return
        for _ in workers:
            self._queue.put(None)
        with self._count_lock:
            open_now = list(self._open)
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for worker in workers:
            worker.join(timeout=5)


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
