"""Loopback web servers (plain, TLS with chosen certificates, stalling) and collector fleets for the probe tests."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.parser import text_string_to_metric_families


def make_cert(folder: Path, name: str, days: tuple[int, int] = (-1, 90)) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 valid from now+days[0] to now+days[1]."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + dt.timedelta(days=days[0])).not_valid_after(now + dt.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes: / (page), /status/N, /redirect-https, /loop, /big."""

    routes: dict[str, Callable[[http.server.BaseHTTPRequestHandler], None]] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route:
            route(self)
            return
        if self.path.startswith("/status/"):
            self._send(int(self.path.rsplit("/", 1)[1]), b"status page")
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":
            self._send(200, b"x" * (3 * 2**20))
        else:
            self._send(200, b"<html><title>Ministry</title><body>hello</body></html>")

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server:
    """A threaded loopback server; .url() builds URLs to it."""

    def __init__(self, scheme: str, context: ssl.SSLContext | None = None) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}  # type: ignore[attr-defined]
        if context:
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme, self.port = scheme, self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def http_server() -> Iterator[Server]:
    server = Server("http")
    yield server
    server.close()


@pytest.fixture
def tls_server_factory(tmp_path: Path) -> Iterator[Callable[..., tuple[Server, Path]]]:
    servers: list[Server] = []

    def build(name: str = "site", days: tuple[int, int] = (-1, 90)) -> tuple[Server, Path]:
        cert, key = make_cert(tmp_path, name, days)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = Server("https", context)
        servers.append(server)
        return server, cert

    yield build
    for server in servers:
        server.close()


@pytest.fixture
def stalling_server() -> Iterator[str]:
    """Accepts connections and never answers: the probe must give up on its own deadline."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    stop.set()
    thread.join(2)
    for sock in held:
        sock.close()
    listener.close()


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves probe threads running (they would outlive a collector stop)."""
    yield
    leaked = [t.name for t in threading.enumerate() if t.name.startswith("probe-") and t.is_alive()]
    assert not leaked, f"threads left running: {leaked}"


GOVWATCH = [sys.executable, "-m", "govwatch.cli"]


def wait_for(predicate: Callable[[], Any], timeout: float, step: float = 0.1) -> Any:
    """Poll until `predicate` is truthy (generous timeouts: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


class Fleet:
    """Collector processes (`govwatch collector run`) sharing ONE data folder, hence one SQLite store file;
    each has its own collector.yml (name, vantage, sites) and port. Agents enroll with the first one."""

    wait_for = staticmethod(wait_for)

    def __init__(self, work: Path) -> None:
        self.work = work
        subprocess.run([*GOVWATCH, "collector", "init", "--data-dir", str(work / "c")], check=True,
                       capture_output=True)
        self.base = yaml.safe_load((work / "c" / "collector.yml").read_text())
        self.base.pop("tls", None)
        self.base["render"] = {"enabled": False}     # these tests are about probing; Chromium costs CPU
        self.procs: dict[str, subprocess.Popen] = {}
        self.urls: dict[str, str] = {}

    @property
    def db(self) -> Path:
        return self.work / "c" / "govwatch.db"

    def start(self, name: str, vantage: str, sites: list[dict[str, Any]], **extra: Any) -> str:
        port = int(self.urls[name].rsplit(":", 1)[1]) if name in self.urls else _free_port()   # a restart keeps it
        cfg = {**self.base, "listen": f"127.0.0.1:{port}", "name": name, "vantage": vantage, "sites": sites,
               "probing": {"lease": "1.5s", "confirm_timeout": "20s"}, **extra}
        path = self.work / "c" / f"{name}.yml"
        path.write_text(yaml.safe_dump(cfg))
        log = open(self.work / f"{name}.log", "a")
        self.procs[name] = subprocess.Popen([*GOVWATCH, "collector", "run", "-c", str(path)], stdout=log,
                                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.urls[name] = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: self._healthy(name), 60), self.log(name)
        return self.urls[name]

    def _healthy(self, name: str) -> bool:
        try:
            return requests.get(f"{self.urls[name]}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def log(self, name: str) -> str:
        path = self.work / f"{name}.log"
        return path.read_text()[-3000:] if path.exists() else "(no log)"

    def stop_one(self, name: str) -> None:
        self.procs[name].terminate()
        self.procs[name].wait(30)

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(10)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def held(self, name: str) -> set[str]:
        return {r[0] for r in self.query("SELECT site FROM probe_leases WHERE holder=? AND expires > ?",
                                         (name, time.time()))}

    def metric(self, name: str, metric: str, **labels: str) -> float | None:
        text = requests.get(f"{self.urls[name]}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == metric and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return sample.value
        return None

    def enroll_agent(self, name: str, collector: str, **sections: Any) -> None:
        creds = self.work / f"{name}-credentials.json"
        key = (self.work / "c" / "enroll-key").read_text().strip()
        subprocess.run([*GOVWATCH, "agent", "enroll", "--collector", self.urls[collector], "--enroll-key", key,
                        "--name", name, "--out", str(creds)], check=True, capture_output=True)
        config = self.work / f"{name}.yml"
        config.write_text(yaml.safe_dump({
            "name": name, "ministry": "MoC", "heartbeat": "1s", "data_dir": str(self.work / f"{name}-data"),
            "collector": {"url": self.urls[collector], "credentials": str(creds), "max_backoff": "1s"},
            "spool": str(self.work / f"{name}-spool.db"), **sections}))
        log = open(self.work / f"{name}.log", "a")
        self.procs[name] = subprocess.Popen([*GOVWATCH, "agent", "run", "-c", str(config)], stdout=log,
                                            stderr=subprocess.STDOUT)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    running = Fleet(tmp_path)
    yield running
    running.stop()
