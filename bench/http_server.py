#!/usr/bin/env python3
"""Why the collector serves HTTP the way it does: the same trivial app on three servers, side by side.

Servers (each in its own process): the standard library's ThreadingHTTPServer (the anchor), govwatch's
event-loop server (collector/httploop.py, h11 parsing) and, when installed, waitress (a well-kept pure-Python
WSGI server that also buffers whole requests before a worker sees them; it has no TLS).
Situations agents and attackers create:
  keepalive  one client, sequential GETs on one connection for 2 s: requests per second
  burst      N clients connect at once (agents reconnecting after a restart): how many wait > 1 s
  slowloris  2 addresses x 48 connections, one header line every 2 s each (the issue's attack), while a
             legitimate client POSTs a 1 KiB body and asks /healthz from a third address: how long each takes
  framing    smuggling material (duplicate / conflicting / signed Content-Length, unknown Transfer-Encoding,
             TE with CL, obs-fold, bare LF, HTTP/0.9): the status line each server answers (- = no answer)
    python bench/http_server.py [--burst 400] [--slow-per-address 48]
The machine may be shared: compare ratios against the anchor measured in the same run, not absolute figures.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import socket
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FRAMING = {
    "duplicate CL": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    "conflicting CL": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk",
    "CL +2": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\nok",
    "TE gzip": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nok",
    "TE + CL": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n0\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
    "bare LF": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\nX-B: c\r\n\r\n",
    "HTTP/0.9": b"GET /\r\n\r\n",
}


def stdlib_server(port: int, ready: mp.Event) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _ok(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

        do_GET = do_POST = _ok  # noqa: N815

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    ready.set()
    server.serve_forever()


def govwatch_server(port: int, ready: mp.Event) -> None:
    from govwatch.collector.httpd import Response, make_handler
    from govwatch.collector.httploop import PooledServer

    handler = make_handler(lambda request: Response(200, "ok\n"), 1 << 20, 10.0, 5.0)
    server = PooledServer(("0.0.0.0", port), handler, threads=64)
    ready.set()
    server.serve_forever()


def waitress_server(port: int, ready: mp.Event) -> None:
    import waitress

    def app(environ, start_response):
        environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", "3")])
        return [b"ok\n"]

    ready.set()
    waitress.serve(app, host="0.0.0.0", port=port, threads=64, channel_timeout=10, _quiet=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port: int, raw: bytes, source: str = "127.0.0.1", timeout: float = 20.0) -> tuple[float, bytes]:
    """Seconds until the server closed (or timed out) and its answer's first line."""
    start = time.perf_counter()
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0)) as sock:
            sock.sendall(raw)
            while chunk := sock.recv(4096):
                data += chunk
    except OSError:
        if not data:
            return float("inf"), b""
    return time.perf_counter() - start, data.split(b"\r\n", 1)[0]


def keepalive_rate(port: int, seconds: float = 2.0) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        done, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            buffer = b""
            while b"ok\n" not in buffer:
                chunk = sock.recv(4096)
                if not chunk:
                    return done / seconds
                buffer += chunk
            done += 1
    return done / seconds


def burst(port: int, clients: int) -> list[float]:
    results: list[float] = []
    gate = threading.Barrier(clients)

    def one(source: str) -> None:
        gate.wait()
        results.append(request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                               source)[0])

    # agents reconnect from their own addresses (and govwatch caps connections per address)
    threads = [threading.Thread(target=one, args=(f"127.0.1.{1 + i % 200}",)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def slowloris(port: int, per_address: int) -> tuple[float, float]:
    """Median seconds for a legitimate 1 KiB POST and a /healthz while 2 x per_address connections drip."""
    socks = []
    for address in ("127.0.0.2", "127.0.0.3"):
        for _ in range(per_address):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(address, 0))
                sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
                socks.append(sock)
            except OSError:
                break
    stop = threading.Event()

    def drip() -> None:
        n = 0
        while not stop.wait(2.0):
            n += 1
            for sock in socks:
                try:
                    sock.sendall(f"X-{n}: {n}\r\n".encode())
                except OSError:
                    pass

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    time.sleep(1.0)
    body = b"x" * 1024
    post = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1024\r\n\r\n" + body
    posts = [request(port, post, "127.0.0.4", timeout=15)[0] for _ in range(3)]
    health = [request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "127.0.0.4",
                      timeout=15)[0] for _ in range(3)]
    stop.set()
    dripper.join()
    for sock in socks:
        sock.close()
    return statistics.median(posts), statistics.median(health)


def measure(name: str, target, args) -> dict[str, float]:
    port = free_port()
    ready = mp.Event()
    proc = mp.Process(target=target, args=(port, ready), daemon=True)  # stderr: clients hanging up is normal
    proc.start()
    ready.wait(10)
    time.sleep(0.3)
    rate = keepalive_rate(port)
    times = burst(port, args.burst)
    slow = sum(1 for t in times if t > 1.0)
    post, health = slowloris(port, args.slow_per_address)
    framing = {case: request(port, raw, timeout=3)[1].decode("latin-1")[9:12] or "-" for case, raw in FRAMING.items()}
    proc.terminate()
    proc.join(5)
    print(f"{name:<26} keep-alive {rate:6.0f} req/s | burst of {args.burst}: {slow} waited > 1 s | slowloris "
          f"2x{args.slow_per_address}: POST {post * 1000:.0f} ms, /healthz {health * 1000:.0f} ms")
    print(" " * 27 + "framing: " + ", ".join(f"{case} {status}" for case, status in framing.items()))
    return {"rate": rate, "post": post}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=400)
    parser.add_argument("--slow-per-address", type=int, default=48)
    args = parser.parse_args()
    anchor = measure("stdlib ThreadingHTTPServer", stdlib_server, args)
    ours = measure("govwatch event loop (h11)", govwatch_server, args)
    print(f"{'':27}keep-alive rate vs anchor: x{ours['rate'] / max(anchor['rate'], 1):.2f}")
    try:
        import waitress  # noqa: F401
    except ImportError:
        print("waitress not installed: pip install waitress to compare")
        return
    theirs = measure("waitress 3 (no TLS)", waitress_server, args)
    print(f"{'':27}keep-alive rate vs anchor: x{theirs['rate'] / max(anchor['rate'], 1):.2f}")


if __name__ == "__main__":
    main()
