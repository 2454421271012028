"""/metrics as Prometheus and the rules/dashboards meet it: promtool-clean, and exactly the documented list."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from govwatch.collector.config import load_config
from govwatch.collector.probes import CertInfo, ProbeResult
from govwatch.collector.service import Collector
from govwatch.events import Event

from .conftest import make_collector_config

DOCUMENTED = Path(__file__).parent.parent / "alerting" / "exported_metrics.txt"


def documented() -> dict[str, tuple[str, set[str]]]:
    out = {}
    for line in DOCUMENTED.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind, labels = line.split()
            out[name] = (kind, set(labels.split(",")))
    return out


@pytest.fixture
def busy_collector(tmp_path, store_kind):
    """A collector that has seen every kind of event, a heartbeat with stats and a probed site."""
    site = {"name": "moc-home", "url": "http://127.0.0.1:9/", "ministry": "MoC", "interval": "1h",
            "web_root": "web-01:/var/www/html"}
    running = Collector(load_config(str(make_collector_config(tmp_path, sites=[site], store=store_kind))))
    running.start()
    key = open(running.cfg["enroll_key_file"]).read().strip()
    token = requests.post(f"{running.url}/api/v1/enroll", json={"name": "web-01", "enroll_key": key}).json()["token"]
    heartbeat = {"version": "0.1.0", "ministry": "MoC", "watchers": ["fim", "traffic"], "spool_backlog": 3,
                 "spool_dropped": 0, "stats": {"fim": {"watched_files": 120}, "traffic": {"packets": 5000,
                                                                                         "kernel_drops": 2}}}
    events = [Event("heartbeat", heartbeat),
              Event("fim", {"path": "/var/www/html/uploads/x.php", "change": "created"}, "critical", "web shell"),
              Event("fim_status", {"problem": "overflow", "detail": "inotify queue overflow"}, "medium"),
              Event("defacement", {"site": "moc-home", "state": "defaced", "score": 9.0, "reasons": ["hacked by"]},
                    "critical"),
              Event("traffic", {"kind": "syn_flood", "state": "start", "evidence": {}}, "high")]
    answer = requests.post(f"{running.url}/api/v1/events", json=[e.to_dict() for e in events],
                           headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    now = time.time()
    cert = CertInfo(now - 86400, now + 30 * 86400, "CN=moc", "CN=ca", True)
    running.outside.tracker.record(site | {"confirm_failures": 3}, ProbeResult(
        url=site["url"], ts=now, up=True, status=200, duration=0.2, ip="127.0.0.1", cert=cert, https_redirect=True))
    running.outside.tracker.record(site | {"confirm_failures": 3}, ProbeResult(
        url=site["url"], ts=now + 1, up=True, status=200, duration=0.2, ip="127.0.0.2", cert=cert,
        https_redirect=True))  # the site moved
    from govwatch.collector.render import storage  # the last render, as the render pool records it

    storage.install_tables(running.store)
    with running.store.transaction() as conn:
        storage.record_state(conn, "moc-home", now, True, None, 1.5, 0.02, None, site["url"], None)
    requests.post(f"{running.url}/api/v1/events", data=b"{", headers={"Authorization": "Bearer nope"})
    running.app.rejections.flush()
    yield running
    running.stop()


def scrape(collector) -> str:
    return requests.get(f"{collector.url}/metrics", timeout=10).text


def test_promtool_accepts_metrics(busy_collector):
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing in CI (Debian package prometheus)")
        pytest.skip("promtool not installed (Debian package prometheus)")
    result = subprocess.run([promtool, "check", "metrics"], input=scrape(busy_collector), capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_exported_metrics_are_exactly_the_documented_list(busy_collector):
    seen: dict[str, tuple[str, set[str]]] = {}
    for family in text_string_to_metric_families(scrape(busy_collector)):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = set(sample.labels)
            seen[sample.name] = (family.type, seen.get(sample.name, ("", set()))[1] | labels)
    want = documented()
    assert set(seen) == set(want)
    for name, (kind, labels) in want.items():
        assert seen[name] == (kind, labels), name


def test_values_come_from_the_store(busy_collector):
    families = {s.name: s for f in text_string_to_metric_families(scrape(busy_collector)) for s in f.samples
                if not s.labels or "severity" not in s.labels or s.labels.get("severity") == "critical"}
    assert families["govwatch_fim_watched_files"].value == 120
    assert families["govwatch_defacement_detected"].labels == {"site": "moc-home"}
    assert families["govwatch_defacement_detected"].value == 1
    assert families["govwatch_traffic_packets_total"].value == 5000
    assert families["govwatch_site_tls_cert_expiry_timestamp_seconds"].value > time.time()
