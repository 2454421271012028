#!/usr/bin/env python3
"""Why the collector does not use the standard library's ThreadingHTTPServer as is: measured side by side.

Both servers run the same trivial app in their own process. Two situations agents and attackers create:
  burst     N clients connect at once (agents reconnecting after a collector restart): how many wait > 1 s
            (a full listen backlog drops SYNs; the kernel retries after 1 s)
  slowloris one address holds K half-sent requests open; then a legitimate client (another loopback address)
            asks for /healthz: how long does it wait, and how many threads does the server hold
    python bench/http_server.py [--burst 600] [--slow 400]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def stdlib_server(port: int, ready: mp.Event) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    ready.set()
    server.serve_forever()


def govwatch_server(port: int, ready: mp.Event) -> None:
    from govwatch.collector.httpd import PooledServer, Response, make_handler

    handler = make_handler(lambda request: Response(200, "ok\n"), 1 << 20, 10.0, 5.0)
    server = PooledServer(("127.0.0.1", port), handler, threads=64, per_ip=48)
    ready.set()
    server.serve_forever()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, source: str = "127.0.0.1", timeout: float = 20.0) -> float:
    start = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while sock.recv(4096):
                pass
    except OSError:
        return float("inf")
    return time.perf_counter() - start


def burst(port: int, clients: int) -> list[float]:
    results: list[float] = []
    gate = threading.Barrier(clients)

    def one() -> None:
        gate.wait()
        results.append(get(port))

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def slowloris(port: int, held: int, pid: int) -> tuple[float, int]:
    socks = []
    for _ in range(held):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finishes the headers
            socks.append(sock)
        except OSError:
            break
    time.sleep(1.0)
    threads = len(os.listdir(f"/proc/{pid}/task"))
    waits = [get(port, source="127.0.0.2", timeout=15) for _ in range(5)]
    for sock in socks:
        sock.close()
    return statistics.median(waits), threads


def measure(name: str, target, args) -> None:
    port = free_port()
    ready = mp.Event()
    proc = mp.Process(target=target, args=(port, ready), daemon=True)
    proc.start()
    ready.wait(10)
    time.sleep(0.2)
    times = burst(port, args.burst)
    slow = sum(1 for t in times if t > 1.0)
    failed = sum(1 for t in times if t == float("inf"))
    finite = sorted(t for t in times if t != float("inf"))
    wait, threads = slowloris(port, args.slow, proc.pid)
    proc.terminate()
    proc.join(5)
    p99 = finite[int(len(finite) * 0.99) - 1] * 1000 if finite else float("nan")
    print(f"{name:<26} burst of {args.burst}: {slow} waited > 1 s, {failed} failed, p99 {p99:.0f} ms | "
          f"slowloris x{args.slow}: legit request {wait * 1000:.0f} ms, server threads {threads}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=600)
    parser.add_argument("--slow", type=int, default=400)
    args = parser.parse_args()
    measure("stdlib ThreadingHTTPServer", stdlib_server, args)
    measure("govwatch PooledServer", govwatch_server, args)


if __name__ == "__main__":
    main()
