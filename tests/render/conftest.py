"""Fixtures for the rendered view: a ministry page on 127.0.0.1 whose files we swap, an "elsewhere" server
on 127.0.0.2 (spam, skimmer collection), and the system Chromium (tests skip with the reason without it)."""

from __future__ import annotations

import io
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium (apt-get install chromium)")

GOOD_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Ministry of Commerce</title>
<link rel="stylesheet" href="/site.css"></head><body><header><h1>Ministry of Commerce</h1>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/contact">Contact</a></nav></header>
<img id="hero" src="/hero.png" width="1280" height="640" alt="The ministry building">
<main><h2>Welcome to the official portal of the Ministry</h2>
<p>The Ministry of Commerce promotes trade, protects consumers and supports small businesses.</p>
<p>Latest news: export figures for October are published. <span id="today"></span></p>
<script src="/app.js"></script></main><footer>Phnom Penh, Cambodia</footer></body></html>"""
GOOD_JS = "document.getElementById('today').textContent = 'Updated ' + new Date().toISOString();"
CSS = "body{margin:0;font-family:sans-serif;background:#fff;color:#123}header{padding:8px 16px;background:#e8eef6}"


def png(colour: tuple[int, int, int], text: str = "", size: tuple[int, int] = (1280, 640)) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, colour)
    if text:
        ImageDraw.Draw(image).text((40, 40), text, fill=(255, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class Site:
    """Files the servers answer with; tests swap them to stage a defacement."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        self.referrer_redirect: str | None = None
        self.hits: list[str] = []
        self.reset()

    def reset(self) -> None:
        self.files = {"/": ("text/html; charset=utf-8", GOOD_HTML.encode()),
                      "/app.js": ("text/javascript", GOOD_JS.encode()), "/site.css": ("text/css", CSS.encode()),
                      "/hero.png": ("image/png", png((210, 225, 240)))}
        self.referrer_redirect = None

    def put(self, path: str, body: str | bytes, kind: str = "text/html; charset=utf-8") -> None:
        self.files[path] = (kind, body.encode() if isinstance(body, str) else body)


def _serve(host: str, site: Site) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.hits.append(f"{host}{self.path}")
            referer = self.headers.get("Referer", "")
            if host == "127.0.0.1" and self.path == "/" and site.referrer_redirect and "google." in referer:
                self.send_response(302)
                self.send_header("Location", site.referrer_redirect)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            kind, body = site.files.get(self.path.split("?")[0], ("text/plain", b"not here"))
            if host != "127.0.0.1":
                kind, body = ("text/html; charset=utf-8", b"<html><body><h1>Cheap pills casino</h1></body></html>")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"site-{host}", daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[Site, str, str]]:
    """(site, its URL on 127.0.0.1, the base URL of the elsewhere server on 127.0.0.2)."""
    site = Site()
    home, home_thread = _serve("127.0.0.1", site)
    away, away_thread = _serve("127.0.0.2", site)
    yield site, f"http://127.0.0.1:{home.server_address[1]}/", f"http://127.0.0.2:{away.server_address[1]}"
    for server, thread in ((home, home_thread), (away, away_thread)):
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from govwatch.collector.render.browser import Browser

    running = Browser(CHROMIUM or "chromium")
    running.start()
    yield running
    running.kill()
