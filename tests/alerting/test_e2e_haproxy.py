"""deploy/ha/haproxy.cfg run by the real Debian HAProxy in front of two TLS collectors on loopback.

The collectors here are small HTTPS servers with the certificate `govwatch collector init` writes, answering
/readyz (200, or 503 when "the store is not writable") and saying who they are. Through HAProxy a client
reaches both; when one fails /readyz it leaves the pool and every request lands on the other; when it is ready
again it comes back. TLS passes through: the client verifies the collectors' own certificate.
"""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_deploy_ha import loopback_haproxy
from .test_e2e_alertmanager import Processes, free_port, serve, wait_for

pytestmark = pytest.mark.slow


class Collector(http.server.ThreadingHTTPServer):
    """Stands in for `govwatch collector run` behind the load balancer: /readyz and /whoami over TLS."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name, self.ready = name, True
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/readyz":
                    status, body = (200, b"ready") if outer.ready else (503, b"store not writable")
                else:
                    status, body = 200, outer.name.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(folder / "server.pem", folder / "server-key.pem")
        self.socket = context.wrap_socket(self.socket, server_side=True)


@pytest.fixture
def balanced(tmp_path: Path) -> Iterator[tuple[int, list[Collector], ssl.SSLContext]]:
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy not installed (Debian package haproxy; scripts/system-deps.sh installs it)")
    port = free_port()
    config = loopback_haproxy(tmp_path, port, [("collector-a", 0), ("collector-b", 0)], free_port())
    folder = tmp_path / "collector"
    collectors = [Collector("collector-a", folder), Collector("collector-b", folder)]
    threads = [serve(c) for c in collectors]
    text = config.read_text()
    for c in collectors:   # the real ports, now that the servers are bound
        text = text.replace(f"server {c.name} 127.0.0.1:0", f"server {c.name} 127.0.0.1:{c.server_address[1]}")
    config.write_text(text)
    assert subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, timeout=30).returncode == 0
    procs = Processes(tmp_path)
    procs.start("haproxy", ["haproxy", "-db", "-f", str(config)])
    client = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    try:
        yield port, collectors, client
    finally:
        procs.stop()
        for c in collectors:
            c.shutdown()
            c.server_close()
        for thread in threads:
            thread.join(5)


def who(port: int, client: ssl.SSLContext) -> str:
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/whoami", context=client, timeout=5) as response:
        return response.read().decode()


def answers(port: int, client: ssl.SSLContext, n: int = 12) -> set[str]:
    out = set()
    for _ in range(n):
        try:
            out.add(who(port, client))
        except (urllib.error.URLError, OSError):
            out.add("error")
    return out


def test_a_collector_failing_readyz_leaves_the_pool_and_comes_back(balanced):
    port, (a, b), client = balanced
    wait_for(lambda: answers(port, client) == {"collector-a", "collector-b"}, 60,
             "HAProxy to send requests to both collectors")
    a.ready = False   # e.g. its PostgreSQL connection is gone or points at a read-only standby
    wait_for(lambda: answers(port, client) == {"collector-b"}, 60, "every request to go to collector-b")
    assert answers(port, client, 30) == {"collector-b"}   # and it stays that way, no errors
    a.ready = True
    wait_for(lambda: answers(port, client) == {"collector-a", "collector-b"}, 60, "collector-a back in the pool")
