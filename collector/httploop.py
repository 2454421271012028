"""The collector's HTTP(S) server: one event loop for all network I/O, a fixed worker pool for handlers.

Why not a thread per connection (stdlib `ThreadingHTTPServer`) or a worker blocked on each socket (the first
landing): a client that sends one header line every 2 s then holds a thread, and 2 x 48 of them from two
addresses stalled every legitimate POST. Here the loop reads each request whole - head and body - and only
then hands it to a worker; writes are non-blocking too. Every request has a deadline for its head
(`request_timeout`) and must move its body at `min_rate`; connections are capped per address and in total
(beyond the total, the stalest connection still sending is cut); an authenticated route's credentials are
checked as soon as the head arrives, before any body is read. Parsing is h11's (RFC 9112) plus refusals of
what request smuggling is made of: repeated Content-Length, Content-Length with Transfer-Encoding, obs-fold,
bare CR or LF, any version other than HTTP/1.0 and 1.1 (so no HTTP/0.9).
"""

from __future__ import annotations

import collections
import logging
import queue
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable

import h11

from govwatch.collector.httpd import Handler, Headers, Request, Response
from govwatch.collector.httpwire import REASONS as _REASONS
from govwatch.collector.httpwire import Conn, check_head, raw_error

log = logging.getLogger("govwatch.collector.http")
READ_CHUNK = 256 * 1024


class PooledServer:
    """Accepts, reads and writes in one loop thread; `threads` workers run the app on complete requests."""

    def __init__(self, address: tuple[str, int], handler: Handler, threads: int, tls: ssl.SSLContext | None = None,
                 handshake_timeout: float | None = None, per_ip: int | None = None,
                 on_refused: Callable[[str], None] | None = None) -> None:
        self.handler, self.limits, self.tls = handler, handler.limits, tls
        self.per_ip = per_ip if per_ip is not None else self.limits.per_ip
        self.handshake_timeout = handshake_timeout or self.limits.handshake_timeout
        self.on_refused = on_refused or (lambda reason: None)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind(address)
            self.socket.listen(1024)
        except OSError:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self._selector = selectors.DefaultSelector()
        self._waker_r, self._waker_w = socket.socketpair()
        self._waker_r.setblocking(False)
        self._waker_w.setblocking(False)
        self._conns: dict[int, Conn] = {}
        self._buffered, self._buffered_cap = 0, self.limits.buffered_cap()
        self._per_host: dict[str, int] = {}
        self._done: collections.deque[tuple[Conn, bytes, bool]] = collections.deque()
        self._jobs: queue.Queue[tuple[Conn, Request] | None] = queue.Queue(maxsize=max(8, threads * 4))
        self._running = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._workers = [threading.Thread(target=self._work, name=f"http-{i}", daemon=True) for i in range(threads)]
        for worker in self._workers:
            worker.start()

    # -- the loop ------------------------------------------------------------------------------------
    def serve_forever(self, poll_interval: float = 0.2) -> None:
        self._selector.register(self.socket, selectors.EVENT_READ, "accept")
        self._selector.register(self._waker_r, selectors.EVENT_READ, "wake")
        self._running.set()
        self._stopped.clear()
        try:
            while self._running.is_set():
                for key, mask in self._selector.select(poll_interval):
                    self._dispatch(key, mask)
                self._sweep(time.monotonic())
        finally:
            self._stopped.set()

    def _dispatch(self, key: selectors.SelectorKey, mask: int) -> None:
        if key.data == "accept":
            return self._accept()
        if key.data == "wake":
            return self._collect_results()
        conn = key.data
        try:
            if conn.state == "handshake":
                self._handshake(conn)
            elif mask & selectors.EVENT_WRITE and conn.state == "write":
                self._write(conn)
            elif mask & selectors.EVENT_READ:
                self._read(conn)
        except (OSError, ssl.SSLError) as exc:
            log.debug("connection from %s dropped: %s", conn.host, exc)
            self._close(conn)
        except Exception:  # a bug must cost one connection, never the server
            log.exception("connection from %s failed", conn.host)
            self._close(conn)

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors: stop accepting for this round
                log.warning("accept failed: %s", exc)
                return
            self._admit_connection(sock, address[0] if address else "")

    def _admit_connection(self, sock: socket.socket, host: str) -> None:
        if self._per_host.get(host, 0) >= self.per_ip:
            sock.close()
            self.on_refused("too_many_connections")
            return
        if len(self._conns) >= self.limits.max_connections and not self._evict_stalest():
            sock.close()
            self.on_refused("too_many_connections")
            return
        sock.setblocking(False)
        now = time.monotonic()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            conn = Conn(sock, host, now, now + self.handshake_timeout, "handshake")
        else:
            conn = Conn(sock, host, now, now + self.limits.idle_timeout, "idle")
        self._conns[sock.fileno()] = conn
        self._per_host[host] = self._per_host.get(host, 0) + 1
        self._selector.register(sock, selectors.EVENT_READ, conn)

    def _evict_stalest(self) -> bool:
        """Make room under the total cap: cut the connection that has waited longest without finishing."""
        waiting = [c for c in self._conns.values() if c.state in ("handshake", "idle", "head", "body", "linger")]
        if not waiting:
            return False
        self.on_refused("slow_connection_cut")
        self._close(min(waiting, key=lambda c: c.started))
        return True

    def _sweep(self, now: float) -> None:
        for conn in [c for c in self._conns.values() if c.state != "busy" and now > c.deadline]:
            if conn.state in ("head", "body", "handshake"):
                self.on_refused("request_timeout")
            self._close(conn)

    # -- reading -------------------------------------------------------------------------------------
    def _handshake(self, conn: Conn) -> None:
        try:
            conn.sock.do_handshake()  # type: ignore[attr-defined]
        except ssl.SSLWantReadError:
            return self._watch(conn, selectors.EVENT_READ)
        except ssl.SSLWantWriteError:
            return self._watch(conn, selectors.EVENT_WRITE)
        conn.state, conn.deadline = "idle", time.monotonic() + self.limits.idle_timeout
        self._watch(conn, selectors.EVENT_READ)
        self._read(conn)

    def _read(self, conn: Conn) -> None:
        chunks, total = [], 0
        while total < READ_CHUNK:
            try:
                data = conn.sock.recv(READ_CHUNK)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not data:
                if total == 0:
                    return self._close(conn)
                break
            chunks.append(data)
            total += len(data)
        if chunks and conn.state != "linger":
            self._feed(conn, b"".join(chunks))

    def _feed(self, conn: Conn, data: bytes) -> None:
        now = time.monotonic()
        if conn.state == "idle":
            data = data.lstrip(b"\r\n")
            if not data:
                return
            conn.state, conn.started, conn.deadline = "head", now, now + self.limits.request_timeout
        if conn.state == "head":
            return self._feed_head(conn, data)
        conn.parser.receive_data(data)
        self._events(conn)

    def _feed_head(self, conn: Conn, data: bytes) -> None:
        start = max(0, len(conn.head) - 3)
        conn.head += data
        end = conn.head.find(b"\r\n\r\n", start)
        if end < 0:
            if len(conn.head) > self.limits.max_head:
                self._fail(conn, 431, f"request head over {self.limits.max_head} bytes")
            return
        head = bytes(conn.head[:end + 4])
        if len(head) > self.limits.max_head:
            return self._fail(conn, 431, f"request head over {self.limits.max_head} bytes")
        problem = check_head(head[:-4])
        if problem is not None:
            return self._fail(conn, *problem)
        conn.parser.receive_data(bytes(conn.head))
        conn.head = bytearray()
        conn.state = "body"
        self._events(conn)

    def _events(self, conn: Conn) -> None:
        try:
            while conn.state == "body":
                event = conn.parser.next_event()
                if event is h11.NEED_DATA:
                    return
                if isinstance(event, h11.Request):
                    self._on_head(conn, event)
                elif isinstance(event, h11.Data):
                    conn.body += event.data
                    conn.held += len(event.data)
                    self._buffered += len(event.data)
                    if len(conn.body) > conn.limit:
                        self._fail(conn, 413, f"body is over the limit of {conn.limit} bytes for this endpoint")
                    elif self._buffered > self._buffered_cap:
                        self.on_refused("overloaded")
                        self._fail(conn, 503, "collector busy (request memory budget spent); retry shortly",
                                   "Retry-After: 5\r\n")
                elif isinstance(event, h11.EndOfMessage):
                    self._submit(conn)
                elif isinstance(event, h11.ConnectionClosed):
                    self._close(conn)
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint if exc.error_status_hint in _REASONS else 400
            self._fail(conn, status, f"malformed request: {exc}")

    def _on_head(self, conn: Conn, event: h11.Request) -> None:
        conn.method = event.method.decode("ascii", "replace")
        conn.target = event.target.decode("latin-1")
        conn.headers = Headers([(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers])
        limit, early = self.limits.max_body, None
        if self.handler.admit is not None:
            try:
                limit, early = self.handler.admit(conn.method, conn.target.partition("?")[0], conn.headers)
            except Exception:
                log.exception("admission check failed for %s %s", conn.method, conn.target[:200])
        conn.limit = min(limit, self.limits.max_body)
        declared = conn.headers.get("Content-Length")
        if early is not None:
            return self._answer_early(conn, early)
        if declared and int(declared) > conn.limit:
            return self._fail(conn, 413, f"body of {int(declared)} bytes is over the limit of {conn.limit}")
        expected = int(declared) if declared else conn.limit
        conn.deadline = conn.started + self.limits.request_timeout + expected / self.limits.min_rate
        if conn.parser.client_is_waiting_for_100_continue:
            self._send_now(conn, conn.parser.send(h11.InformationalResponse(status_code=100, headers=[])))

    def _answer_early(self, conn: Conn, response: Response) -> None:
        """An answer decided from the head alone (bad credentials, /healthz): a body is never read."""
        if "transfer-encoding" in conn.headers or conn.headers.get("Content-Length", "0").strip() not in ("", "0"):
            response.headers = {**response.headers, "Connection": "close"}
        else:
            conn.parser.next_event()  # the EndOfMessage of a body-less request
        data = self._render(conn, response)
        self._start_write(conn, data, conn.parser.our_state is h11.DONE and conn.parser.their_state is h11.DONE)

    def _submit(self, conn: Conn) -> None:
        request = Request(conn.method, conn.target, conn.headers or Headers([]), bytes(conn.body), conn.host)
        conn.body = bytearray()  # conn.held stays counted until the answer comes back
        try:
            self._jobs.put_nowait((conn, request))
        except queue.Full:
            self.on_refused("overloaded")
            return self._fail(conn, 503, "collector busy; retry shortly", "Retry-After: 1\r\n")
        conn.state = "busy"
        self._selector.unregister(conn.sock)

    # -- writing -------------------------------------------------------------------------------------
    def _release(self, conn: Conn) -> None:
        """Give back the memory budget a connection's body held (read, refused or answered)."""
        self._buffered -= conn.held
        conn.held = 0
        conn.body = bytearray()

    def _fail(self, conn: Conn, status: int, reason: str, extra: str = "") -> None:
        """Answer a request that could not be read properly, then close the connection."""
        self._release(conn)
        if status == 413:
            self.on_refused("too_large")
        elif status != 408:
            self.on_refused("malformed")
        self._start_write(conn, raw_error(status, reason, extra), keep=False)

    def _start_write(self, conn: Conn, data: bytes, keep: bool) -> None:
        now = time.monotonic()
        conn.out, conn.keep, conn.state = memoryview(data), keep, "write"
        conn.deadline = now + self.limits.request_timeout + len(data) / self.limits.min_rate
        self._watch(conn, selectors.EVENT_WRITE)
        self._write(conn)

    def _write(self, conn: Conn) -> None:
        while conn.out:
            try:
                sent = conn.sock.send(conn.out[:READ_CHUNK])
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return
            conn.out = conn.out[sent:]
        if conn.keep:
            leftover = conn.parser.trailing_data[0]
            conn.parser = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
            conn.state, conn.deadline = "idle", time.monotonic() + self.limits.idle_timeout
            self._watch(conn, selectors.EVENT_READ)
            if leftover:
                self._feed(conn, leftover)
            return
        self._linger(conn)

    def _linger(self, conn: Conn) -> None:
        """Stop sending but drain what the client still sends for a moment, so it sees the answer, not a reset."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return self._close(conn)
        conn.state, conn.deadline = "linger", time.monotonic() + max(2.0, self.limits.request_timeout)
        self._watch(conn, selectors.EVENT_READ)

    def _send_now(self, conn: Conn, data: bytes) -> None:
        try:
            conn.sock.send(data)
        except (OSError, ssl.SSLError):
            pass

    def _watch(self, conn: Conn, events: int) -> None:
        try:
            self._selector.modify(conn.sock, events, conn)
        except KeyError:
            self._selector.register(conn.sock, events, conn)

    def _render(self, conn: Conn, response: Response) -> bytes:
        """Serialise with h11 (which also decides keep-alive); header values are already CR/LF-free."""
        parser = conn.parser
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.header_list()]
        headers.append((b"Content-Length", str(len(response.body)).encode()))
        try:
            out = parser.send(h11.Response(status_code=response.status, headers=headers, reason=b""))
            if response.body and conn.method != "HEAD":
                out += parser.send(h11.Data(data=response.body))
            return out + parser.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            log.error("cannot send the answer to %s %s: %s", conn.method, conn.target[:200], exc)
            conn.parser = h11.Connection(h11.SERVER)
            return raw_error(500, "internal error (logged on the collector)")

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            conn, request = job
            try:
                response = self.handler.app(request)
            except Exception:  # a bug must cost one request, never the collector
                log.exception("unhandled error serving %s %s", request.method, request.path[:200])
                response = Response.error(500, "internal error (logged on the collector)")
            data = self._render(conn, response)
            keep = conn.parser.our_state is h11.DONE and conn.parser.their_state is h11.DONE
            self._done.append((conn, data, keep))
            try:
                self._waker_w.send(b"x")
            except (BlockingIOError, OSError):
                pass  # the loop is already due to wake

    def _collect_results(self) -> None:
        try:
            while self._waker_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        while self._done:
            conn, data, keep = self._done.popleft()
            self._release(conn)
            if self._conns.get(conn.sock.fileno()) is not conn:
                continue  # closed by a stop meanwhile
            try:
                self._start_write(conn, data, keep)
            except (OSError, ssl.SSLError):
                self._close(conn)

    # -- closing -------------------------------------------------------------------------------------
    def _close(self, conn: Conn) -> None:
        if conn.state != "busy":  # a busy connection's body is the worker's until its answer comes back
            self._release(conn)
        fd = conn.sock.fileno()
        if fd >= 0 and self._conns.get(fd) is conn:
            del self._conns[fd]
            left = self._per_host.get(conn.host, 1) - 1
            if left > 0:
                self._per_host[conn.host] = left
            else:
                self._per_host.pop(conn.host, None)
            try:
                self._selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
        conn.state = "closed"
        try:
            conn.sock.close()
        except OSError:
            pass

    def shutdown(self) -> None:
        """Stop the loop (returns once serve_forever has)."""
        self._running.clear()
        try:
            self._waker_w.send(b"x")
        except OSError:
            pass
        self._stopped.wait(10)

    def server_close(self) -> None:
        """Close the listening socket and every connection (a stop never waits for clients); join workers."""
        self._running.clear()
        self._stopped.wait(10)
        for conn in list(self._conns.values()):
            self._close(conn)
        self.socket.close()
        for _ in self._workers:
            self._jobs.put(None)
        for worker in self._workers:
            worker.join(timeout=5)
        self._selector.close()
        self._waker_r.close()
        self._waker_w.close()

    def open_connections(self) -> int:
        return len(self._conns)
