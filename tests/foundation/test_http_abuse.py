"""The HTTP front under abuse: slowloris from several addresses, smuggling framings, unauthenticated bulk."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from govwatch.collector.config import load_config
from govwatch.collector.service import Collector
from govwatch.events import new_id

from .conftest import make_collector_config


def start(tmp_path, **limits) -> Collector:
    running = Collector(load_config(str(make_collector_config(tmp_path, limits=limits))))
    running.start()
    return running


def port_of(running: Collector) -> int:
    return urlsplit(running.url).port or 0


def exchange(port: int, raw: bytes, source: str = "127.0.0.1") -> bytes:
    """Send raw bytes, return everything the server answers before it closes (or 10 s pass)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as sock:
        sock.sendall(raw)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def enroll(running: Collector, name: str = "web-01") -> str:
    key = Path(running.cfg["enroll_key_file"]).read_text().strip()
    answer = requests.post(f"{running.url}/api/v1/enroll", json={"name": name, "enroll_key": key}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


def heartbeat() -> list[dict]:
    return [{"id": new_id(), "kind": "heartbeat", "ts": time.time(), "data": {"version": "t"}}]


class Slowloris:
    """`per_address` connections from each address, each sending one more header line every `every` seconds."""

    def __init__(self, port: int, addresses: list[str], per_address: int, every: float = 2.0) -> None:
        self.socks: list[socket.socket] = []
        for address in addresses:
            for _ in range(per_address):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(address, 0))
                sock.sendall(b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\n")
                self.socks.append(sock)
        self.stop = threading.Event()
        self.every = every
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _drip(self) -> None:
        n = 0
        while not self.stop.wait(self.every):
            n += 1
            for sock in self.socks:
                try:
                    sock.sendall(f"X-Drip-{n}: {n}\r\n".encode())
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        for sock in self.socks:
            sock.close()


def test_slowloris_from_two_addresses_does_not_stall_a_legitimate_post(tmp_path):
    running = start(tmp_path, threads=4, connections_per_ip=48)
    token = enroll(running)
    attack = Slowloris(port_of(running), ["127.0.0.2", "127.0.0.3"], 48, every=0.5)
    try:
        for _ in range(3):
            answer = requests.post(f"{running.url}/api/v1/events", json=heartbeat(), timeout=10,
                                   headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200 and answer.json()["accepted"] == 1
            assert requests.get(f"{running.url}/healthz", timeout=10).text == "ok\n"
    finally:
        attack.close()
        running.stop()


def test_a_request_trickled_byte_by_byte_is_cut_at_its_deadline(tmp_path):
    running = start(tmp_path, request_timeout="1s", idle_timeout="1s")
    sock = socket.create_connection(("127.0.0.1", port_of(running)), timeout=10)
    started = time.monotonic()
    try:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 200:
            sock.sendall(bytes([byte]))
            time.sleep(0.05)  # each read is quick; the whole head is not
    except OSError:
        pass  # cut off while still sending: what we want
    finally:
        elapsed = time.monotonic() - started
        sock.close()
        running.stop()
    assert elapsed < 9, "a trickling client held its connection for the whole 10 s head"


def test_total_cap_cuts_the_stalest_slow_connection_for_a_new_client(tmp_path):
    running = start(tmp_path, max_connections=6, connections_per_ip=48)
    port = port_of(running)
    attack = Slowloris(port, ["127.0.0.2", "127.0.0.3"], 3, every=0.5)
    try:
        assert requests.get(f"{running.url}/healthz", timeout=10).status_code == 200
    finally:
        attack.close()
        running.stop()


def test_smuggling_framings_are_refused(tmp_path):
    running = start(tmp_path)
    port = port_of(running)
    head = b"POST /api/v1/enroll HTTP/1.1\r\nHost: x\r\n"
    cases = {
        b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}": b"400",
        b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x": b"400",
        b"Content-Length: 2, 2\r\n\r\n{}": b"400",
        b"Content-Length: +2\r\n\r\n{}": b"400",
        b"Transfer-Encoding: gzip\r\n\r\n{}": b"501",
        b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n": b"400",
        b"X-A: b\r\n folded\r\nContent-Length: 2\r\n\r\n{}": b"400",
        b"X-A: b\nContent-Length: 2\r\n\r\n{}": b"400",
    }
    try:
        for extra, status in cases.items():
            answer = exchange(port, head + extra)
            assert answer.startswith(b"HTTP/1.1 " + status), (extra, answer[:200])
        assert exchange(port, b"GET /healthz\r\n\r\n").startswith(b"HTTP/1.1 400")  # HTTP/0.9 gets no 0.9 answer
        assert exchange(port, b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 505")
        assert requests.get(f"{running.url}/healthz", timeout=10).status_code == 200
    finally:
        running.stop()


def test_enroll_refuses_a_big_body_without_reading_it(tmp_path):
    running = start(tmp_path)
    try:
        body = b'{"name": "x", "enroll_key": "' + b"k" * 2**20 + b'"}'  # under max_body, far over what enroll needs
        answer = requests.post(f"{running.url}/api/v1/enroll", data=body, timeout=30,
                               headers={"Content-Type": "application/json"})
        assert answer.status_code == 413
    finally:
        running.stop()


def test_events_without_valid_credentials_are_refused_before_the_body(tmp_path):
    running = start(tmp_path)
    port = port_of(running)
    try:
        answer = exchange(port, b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
                                b"Content-Length: 8000000\r\n\r\n")  # the body never comes: no need to wait for it
        assert answer.startswith(b"HTTP/1.1 401")
        big = requests.post(f"{running.url}/api/v1/events", data=b"[" + b" " * 4 * 2**20 + b"]", timeout=30,
                            headers={"Authorization": "Bearer revoked-or-made-up"})
        assert big.status_code == 401  # an ordinary client still reads the answer, not a reset
    finally:
        running.stop()


def test_enroll_with_a_number_for_a_name_says_so(tmp_path):
    running = start(tmp_path)
    try:
        key = Path(running.cfg["enroll_key_file"]).read_text().strip()
        answer = requests.post(f"{running.url}/api/v1/enroll", json={"name": 5, "enroll_key": key}, timeout=10)
        assert answer.status_code == 400 and answer.json()["error"] == "name: must be a string (got int)"
    finally:
        running.stop()


def test_keep_alive_serves_several_requests_on_one_connection(tmp_path):
    running = start(tmp_path)
    try:
        with requests.Session() as session:
            for _ in range(5):
                assert session.get(f"{running.url}/readyz", timeout=10).status_code == 200
    finally:
        running.stop()


def test_bodies_held_in_memory_are_bounded_across_connections():
    from govwatch.collector.httpd import Response, make_handler
    from govwatch.collector.httploop import PooledServer

    handler = make_handler(lambda request: Response(200, "ok\n"), 2**20, 10.0, 5.0, max_buffered=2 * 2**20)
    server = PooledServer(("127.0.0.1", 0), handler, threads=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    socks = []
    try:
        for _ in range(4):  # each holds 900 KiB of a 1 MiB body: the third passes the 2 MiB budget
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n" + b"a" * 900 * 1024)
            socks.append(sock)
        answers = []
        for sock in socks:
            sock.settimeout(3)
            try:
                answers.append(sock.recv(100)[:12])
            except (TimeoutError, ConnectionResetError):
                answers.append(b"")
        assert b"HTTP/1.1 503" in answers, answers
        assert exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")
    finally:
        for sock in socks:
            sock.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
