"""The outside view: a watched site defaced is seen by the collector's own probe, as citizens see it."""

from __future__ import annotations

import http.server
import threading
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from govwatch.collector.config import load_config
from govwatch.collector.service import Collector

from .conftest import make_collector_config

PAGE = """<!doctype html><html><head><title>Ministry of Commerce</title></head><body>
<header><img src="/logo.png" alt="MoC"><h1>Ministry of Commerce</h1></header>
<ul><li><a href="/news/1.html">Trade statistics 2026</a></li><li><a href="/services.html">Business registration</a></li>
<li><a href="/news/2.html">Export promotion week</a></li></ul><p>Updated {now}</p>
<footer>Phnom Penh, Kingdom of Cambodia</footer></body></html>"""
DEFACED = """<html><head><title>Hacked</title></head><body bgcolor=black><h1>Hacked by Cyb3r Gh0st Team</h1>
<p>Your security is low</p></body></html>"""


class Site:
    """A local web site whose home page the test can swap."""

    def __init__(self) -> None:
        self.page = PAGE
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = site.page.replace("{now}", time.strftime("%H:%M:%S")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def watched(tmp_path):
    site = Site()
    cfg = [{"name": "moc-home", "url": site.url, "interval": "1s", "ministry": "MoC", "confirm_failures": 2}]
    running = Collector(load_config(str(make_collector_config(tmp_path, sites=cfg))))
    running.start()
    yield running, site
    running.stop()
    site.close()


def value(collector, name: str, **labels: str) -> float | None:
    text = requests.get(f"{collector.url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_defacement_seen_from_outside_then_rebaselined(watched):
    collector, site = watched
    assert wait(lambda: value(collector, "govwatch_site_up", site="moc-home") == 1, 10)
    time.sleep(4)  # a few probes to learn the page
    assert value(collector, "govwatch_defacement_detected", site="moc-home") == 0
    site.page = DEFACED
    assert wait(lambda: value(collector, "govwatch_defacement_detected", site="moc-home") == 1, 15)
    incidents = collector.store.query("SELECT * FROM incidents WHERE kind='defacement'")
    assert len(incidents) == 1 and incidents[0]["site"] == "moc-home"
    admin = {"Authorization": f"Bearer {collector.admin_token}"}
    answer = requests.post(f"{collector.url}/api/v1/sites/moc-home/rebaseline", headers=admin, timeout=5)
    assert answer.status_code == 200 and answer.json()["site"] == "moc-home"
    assert value(collector, "govwatch_defacement_detected", site="moc-home") == 0
    time.sleep(3)  # the accepted page stays clean
    assert value(collector, "govwatch_defacement_detected", site="moc-home") == 0


def test_rebaseline_needs_admin(watched):
    collector, _ = watched
    assert requests.post(f"{collector.url}/api/v1/sites/moc-home/rebaseline", timeout=5).status_code == 401
    admin = {"Authorization": f"Bearer {collector.admin_token}"}
    assert requests.post(f"{collector.url}/api/v1/sites/nope/rebaseline", headers=admin, timeout=5).status_code == 404
