"""Fixtures for the defacement tests: corpus access, a local web server whose page we control, a leak guard."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))



class Site:
    """What the local server answers: a browser page, and optionally another page for crawlers."""

    def __init__(self) -> None:
        self.page = "<html><head><title>Ministry</title></head><body><h1>Ministry</h1></body></html>"
        self.crawler_page: str | None = None
        self.status = 200
        self.user_agents: list[str] = []


@pytest.fixture
def site() -> Iterator[tuple[Site, str]]:
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            agent = self.headers.get("User-Agent", "")
            state.user_agents.append(agent)
            body = state.crawler_page if state.crawler_page and "Googlebot" in agent else state.page
            data = body.encode("utf-8")
            self.send_response(state.status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="test-site", daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
