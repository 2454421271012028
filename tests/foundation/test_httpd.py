"""The server under hostile clients: one address cannot hold every worker; idle connections are cut off."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from govwatch.collector.config import load_config
from govwatch.collector.service import Collector

from .conftest import make_collector_config


def start(tmp_path, **limits) -> Collector:
    running = Collector(load_config(str(make_collector_config(tmp_path, limits=limits))))
    running.start()
    return running


def half_request(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    return sock


def closed(sock: socket.socket) -> bool:
    """The server closed the connection (an orderly close, or a reset because our request was unread)."""
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def test_one_address_cannot_hold_more_than_its_share(tmp_path):
    running = start(tmp_path, connections_per_ip=4, threads=8)
    port = urlsplit(running.url).port
    held = [half_request(port) for _ in range(4)]
    try:
        time.sleep(0.3)
        extra = half_request(port)
        extra.settimeout(3)
        assert closed(extra)  # closed at once: over the per-address cap
        with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.2", 0)) as other:
            other.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert other.recv(100).startswith(b"HTTP/1.1 200")  # another address is served meanwhile
    finally:
        for sock in held:
            sock.close()
        running.stop()


def test_slow_client_is_cut_off_after_the_read_timeout(tmp_path):
    running = start(tmp_path, request_timeout="1s", idle_timeout="1s")
    sock = half_request(urlsplit(running.url).port)
    sock.settimeout(5)
    try:
        started = time.monotonic()
        assert sock.recv(100) == b""
        assert time.monotonic() - started < 3
    finally:
        sock.close()
        running.stop()


def test_stop_does_not_wait_for_idle_keep_alive_clients(tmp_path):
    running = start(tmp_path, idle_timeout="30s")
    port = urlsplit(running.url).port
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(100).startswith(b"HTTP/1.1 200")  # the connection now idles, kept alive
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 3
    idle.close()
