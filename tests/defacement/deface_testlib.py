"""Helpers shared by the defacement tests (importable because conftest.py puts this folder on sys.path)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "corpus", "defacement"))
RULES_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "rules", "defacement"))


def corpus_root() -> str:
    """The full shared corpus when present (development), else the small copy under tests/defacement/data."""
    return SHARED if os.path.isdir(os.path.join(SHARED, "legit")) else DATA


def read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


HEALTHY = ("<html><head><title>Ministry {n}</title></head><body><h1>Ministry {n}</h1><p>News of the week</p>"
           "</body></html>")
HOSTILE = "<html><body><p>" + "a" * 40 + "!</p></body></html>"
RUNAWAY = """rules:
  - id: 5b1f7c0e-2a57-4a8e-8d0c-3f43d3b0a1aa
    title: A catastrophic pattern someone added
    status: experimental
    severity: high
    match:
      bad:
        folded|re: '(a+)+$'
      condition: bad
    tests:
      - {expect: match, event: {folded: "aaa"}}
"""


def serve_sites() -> Iterator[tuple[str, dict[str, list[float]]]]:
    """A loopback web server: /a and /b healthy ministry pages, /h a page that trips the RUNAWAY rule;
    yields (base URL, request times per path)."""
    hits: dict[str, list[float]] = {"/a": [], "/b": [], "/h": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            hits.setdefault(self.path, []).append(time.monotonic())
            body = (HOSTILE if self.path == "/h" else HEALTHY.format(n=self.path)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, name="test-sites", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
