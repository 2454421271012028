"""End to end on loopback with the real Debian Prometheus and Alertmanager.

A real collector (`govwatch collector run`, TLS) probes a local ministry page; Prometheus scrapes it and
evaluates rules/prometheus/ unchanged; Alertmanager runs deploy/alertmanager.yml's routes and inhibitions
with every receiver pointed at a webhook inside this test. A defacement staged on the page must arrive at
the webhook through the `page` receiver (critical), with Khmer annotations, and resolve once restored.
"""

from __future__ import annotations

import http.server
import json
import queue
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from .conftest import DEPLOY, RULES

pytestmark = pytest.mark.slow

GOOD_PAGE = """<!DOCTYPE html><html lang="km"><head><meta charset="utf-8">
<title>Ministry of Commerce · ក្រសួងពាណិជ្ជកម្ម</title><link rel="stylesheet" href="/style.css"></head>
<body><header><img src="/logo.png" alt="logo"><nav><a href="/news">News</a> <a href="/services">Services</a>
<a href="/laws">Laws and regulations</a> <a href="/contact">Contact</a></nav></header>
<main><h1>Ministry of Commerce of the Kingdom of Cambodia</h1>
<p>The Ministry of Commerce develops trade policy, registers businesses and protects consumers.</p>
<article><h2>Online business registration</h2><p>Register a company online in three steps through the
business registration portal. Fees and forms are listed on the services page.</p></article>
<article><h2>Export procedures</h2><p>Certificates of origin are issued within two working days.</p></article>
<p>ក្រសួងពាណិជ្ជកម្ម រៀបចំគោលនយោបាយពាណិជ្ជកម្ម ចុះបញ្ជីអាជីវកម្ម និងការពារអ្នកប្រើប្រាស់។</p></main>
<footer>© Ministry of Commerce · Phnom Penh</footer></body></html>"""

DEFACED_PAGE = """<html><head><title>HACKED BY 1337 CREW</title></head>
<body style="background:black;color:lime"><center><h1>HACKED BY 1337 CREW</h1>
<p>Your security is low. Greetz to all team. We are anonymous. Expect us.</p>
<script src="https://evil.example/defaced.js"></script></center></body></html>"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], object], timeout: float, what: str, interval: float = 0.25) -> object:
    """Poll `check` until truthy; the failure message says what never happened."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


class Receiver(http.server.ThreadingHTTPServer):
    """The webhook Alertmanager posts to: every notification lands on a queue."""

    def __init__(self) -> None:
        self.notifications: queue.Queue[dict] = queue.Queue()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.notifications.put(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True

    def wait(self, match: Callable[[dict], bool], timeout: float, what: str) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                note = self.notifications.get(timeout=max(0.1, end - time.monotonic()))
            except queue.Empty:
                break
            if match(note):
                return note
        pytest.fail(f"no webhook notification {what} within {timeout:.0f}s")


class Site(http.server.ThreadingHTTPServer):
    """The watched ministry page; `page` is what it serves right now."""

    def __init__(self) -> None:
        self.page = GOOD_PAGE
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = outer.page.encode() if self.path == "/" else b"ok"
                self.send_response(200 if self.path == "/" else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True


def serve(server: http.server.HTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return thread


class Processes:
    """Started child processes, stopped by their own handles (never by name)."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.procs = logs, []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc, log))
        return proc

    def check_alive(self) -> None:
        for name, proc, _ in self.procs:
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"{name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        for _, proc, log in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            log.close()


def govwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "govwatch.cli", *args]


def collector_config(folder: Path, port: int, site_url: str) -> Path:
    """Three sites: the watched page, a dead one, and a dead one inside a maintenance window."""
    subprocess.run(govwatch("collector", "init", "--data-dir", str(folder)), check=True, capture_output=True)
    path = folder / "collector.yml"
    cfg = yaml.safe_load(path.read_text())
    cfg["listen"] = f"127.0.0.1:{port}"
    common = {"ministry": "MoC", "interval": "1s", "timeout": "2s", "confirm_failures": 2}
    dead = f"http://127.0.0.1:{free_port()}/"  # nothing listens there: connection refused
    cfg["sites"] = [{"name": "e2e-home", "url": site_url, **common}, {"name": "e2e-down", "url": dead, **common},
                    {"name": "e2e-maint", "url": dead, **common}]
    now = datetime.now(UTC)
    cfg["maintenance"] = [{"site": "e2e-maint", "start": (now - timedelta(hours=1)).isoformat(),
                           "end": (now + timedelta(hours=1)).isoformat(), "reason": "e2e"}]
    path.write_text(yaml.safe_dump(cfg))
    return path


def fast_rules(folder: Path) -> Path:
    """rules/prometheus/govwatch.yml with every `for:` shortened to 1s (expressions untouched)."""
    cfg = yaml.safe_load((RULES / "govwatch.yml").read_text(encoding="utf-8"))
    for group in cfg["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    path = folder / "rules.yml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def prometheus_config(folder: Path, collector_port: int, am_port: int, ca: Path) -> Path:
    cfg = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    cfg["global"].update(scrape_interval="1s", evaluation_interval="1s")
    cfg["rule_files"] = [str(fast_rules(folder))]
    cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{am_port}"]
    jobs = [job for job in cfg["scrape_configs"] if job["job_name"] == "govwatch-collector"]
    jobs[0]["static_configs"][0]["targets"] = [f"127.0.0.1:{collector_port}"]
    jobs[0]["tls_config"]["ca_file"] = str(ca)
    cfg["scrape_configs"] = jobs
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def alertmanager_config(folder: Path, webhook: str) -> Path:
    """deploy/alertmanager.yml with its routes and inhibitions, fast timers, every receiver -> the webhook."""
    cfg = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())
    cfg["global"] = {"resolve_timeout": "1m"}
    cfg["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    for route in cfg["route"].get("routes", []):
        route.pop("repeat_interval", None)
    for receiver in cfg["receivers"]:
        if any(key.endswith("_configs") for key in receiver):
            for key in [k for k in receiver if k.endswith("_configs")]:
                del receiver[key]
            receiver["webhook_configs"] = [{"url": webhook, "send_resolved": True}]
    path = folder / "alertmanager.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict]:
    for binary in ("prometheus", "prometheus-alertmanager"):
        if shutil.which(binary) is None:
            pytest.fail(f"{binary} not installed (Debian packages prometheus, prometheus-alertmanager)")
    site, receiver = Site(), Receiver()
    threads = [serve(site), serve(receiver)]
    procs = Processes(tmp_path)
    ports = {name: free_port() for name in ("collector", "prometheus", "alertmanager")}
    try:
        config = collector_config(tmp_path / "collector", ports["collector"],
                                  f"http://127.0.0.1:{site.server_address[1]}/")
        procs.start("collector", govwatch("collector", "run", "-c", str(config)))
        am = alertmanager_config(tmp_path, f"http://127.0.0.1:{receiver.server_address[1]}/alerts")
        procs.start("alertmanager", ["prometheus-alertmanager", f"--config.file={am}",
                                     f"--storage.path={tmp_path / 'am-data'}", "--cluster.listen-address=",
                                     f"--web.listen-address=127.0.0.1:{ports['alertmanager']}"])
        prom = prometheus_config(tmp_path, ports["collector"], ports["alertmanager"],
                                 tmp_path / "collector" / "ca.pem")
        procs.start("prometheus", ["prometheus", f"--config.file={prom}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{ports['prometheus']}"])
        yield {"site": site, "receiver": receiver, "procs": procs, "ports": ports, "tmp": tmp_path}
    finally:
        procs.stop()
        for server in (site, receiver):
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(5)


def metrics(port: int, ca: Path) -> str:
    context = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics", context=context, timeout=5) as response:
        return response.read().decode()


def prom_query(port: int, query: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]["result"]


def probes_recorded(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute("SELECT COUNT(*) FROM site_probes WHERE site='e2e-home' AND up=1").fetchone()[0]


def is_alert(note: dict, status: str, name: str) -> bool:
    return note.get("status") == status and any(
        a["labels"].get("alertname") == name and a["status"] == status for a in note.get("alerts", []))


def test_defacement_reaches_the_webhook_through_alertmanager_and_resolves(stack):
    ports, procs, ca = stack["ports"], stack["procs"], stack["tmp"] / "collector" / "ca.pem"
    # 1. The collector probes the page and exports it; Prometheus scrapes it.
    wait_for(lambda: 'govwatch_site_up{site="e2e-home"} 1.0' in metrics(ports["collector"], ca), 30,
             "the collector to probe the site")
    wait_for(lambda: procs.check_alive() or prom_query(ports["prometheus"], 'govwatch_site_up{site="e2e-home"} == 1'),
             30, "Prometheus to scrape the collector")
    # 2. Let the outside detector learn the page (several clean probes), then deface it.
    wait_for(lambda: probes_recorded(stack["tmp"] / "collector" / "govwatch.db") >= 5, 30,
             "five clean probes for the detector to learn the page from")
    assert 'govwatch_defacement_detected{site="e2e-home"} 0.0' in metrics(ports["collector"], ca)
    stack["site"].page = DEFACED_PAGE
    note = stack["receiver"].wait(lambda n: is_alert(n, "firing", "DefacementDetected"), 90,
                                  "firing DefacementDetected")
    alert = next(a for a in note["alerts"] if a["labels"]["alertname"] == "DefacementDetected")
    assert note["receiver"] == "page"  # critical: Telegram + e-mail in production
    assert alert["labels"]["site"] == "e2e-home" and alert["labels"]["ministry"] == "MoC"
    assert alert["annotations"]["summary"] == "Site e2e-home looks defaced"
    assert "ត្រូវបានគេកែប្រែរូបរាង" in alert["annotations"]["summary_km"]
    console = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["global"]["external_labels"]["console_url"]
    assert alert["annotations"]["screenshot"] == f"{console}/sites/e2e-home/screenshot.png"   # the last render
    # 3. Restore the page: the alert resolves through the same path.
    stack["site"].page = GOOD_PAGE
    stack["receiver"].wait(lambda n: is_alert(n, "resolved", "DefacementDetected"), 120,
                           "resolved DefacementDetected")
    procs.check_alive()


def am_alerts(port: int, name: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v2/alerts?" + urllib.parse.urlencode({"filter": f'alertname="{name}"'})
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def test_site_down_pages_and_maintenance_inhibits_it(stack):
    """SiteDown of a dead site reaches the webhook; the same alert for a site in maintenance is inhibited."""
    ports, receiver = stack["ports"], stack["receiver"]
    note = receiver.wait(lambda n: is_alert(n, "firing", "SiteDown") and n["groupLabels"].get("site") == "e2e-down",
                         90, "firing SiteDown for e2e-down")
    assert note["receiver"] == "page"
    alert = note["alerts"][0]
    assert alert["annotations"]["summary"] == "Site e2e-down is down"
    assert "មិនអាចចូលប្រើបាន" in alert["annotations"]["summary_km"]

    def maint_inhibited() -> bool:
        stack["procs"].check_alive()
        found = [a for a in am_alerts(ports["alertmanager"], "SiteDown") if a["labels"]["site"] == "e2e-maint"]
        return bool(found) and bool(found[0]["status"]["inhibitedBy"])

    wait_for(maint_inhibited, 30, "Alertmanager to hold SiteDown of e2e-maint as inhibited")
    seen = []
    while not receiver.notifications.empty():
        seen.append(receiver.notifications.get_nowait())
    assert not [a for n in seen for a in n["alerts"]
                if a["labels"].get("alertname") == "SiteDown" and a["labels"]["site"] == "e2e-maint"]
