"""Faults reported, not fatal: one agent's bad data, a wrong clock, a full disk or a damaged store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from govwatch.collector.config import db_path, load_config
from govwatch.collector.metrics import SITES_PER_AGENT
from govwatch.collector.service import Collector
from govwatch.collector.store import Store
from govwatch.events import Event

from .conftest import make_collector_config
from .test_api import metric, post

Y1999 = 930000000.0  # June 1999


def heartbeat(**data) -> dict:
    return Event("heartbeat", {"version": "t", **data}).to_dict()


def test_a_string_where_a_number_belongs_is_refused_and_metrics_stay_up(collector, enroll):
    token = enroll("web-01")
    answer = post(collector, token, [heartbeat(spool_backlog="many")])
    assert answer.status_code == 400
    assert answer.json()["error"] == "events[0].data.spool_backlog: must be an integer (got 'many')"
    assert requests.get(f"{collector.url}/metrics", timeout=10).status_code == 200


def test_bad_stored_rows_are_skipped_and_counted_per_agent(collector, enroll):
    good, bad = enroll("web-01"), enroll("web-02")
    assert post(collector, good, [heartbeat(spool_backlog=3, stats={"fim": {"watched_files": 7}})]).ok
    assert post(collector, bad, [heartbeat(spool_backlog=1)]).ok
    with collector.store.transaction() as conn:  # what an older collector or a hand edit may have left
        conn.execute("UPDATE agents SET status=? WHERE name='web-02'",
                     (json.dumps({"spool_backlog": "x", "stats": {"fim": {"watched_files": "many"}}}),))
    response = requests.get(f"{collector.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert metric(collector, "govwatch_fim_watched_files", agent="web-01") == 7
    assert metric(collector, "govwatch_agent_spool_backlog", agent="web-01") == 3
    assert metric(collector, "govwatch_bad_rows_skipped_total", agent="web-02") >= 2
    with collector.store.transaction() as conn:
        conn.execute("UPDATE agents SET status='not json' WHERE name='web-02'")
    assert requests.get(f"{collector.url}/metrics", timeout=10).status_code == 200
    assert requests.get(f"{collector.url}/api/v1/agents", timeout=10,
                        headers={"Authorization": f"Bearer {collector.admin_token}"}).status_code == 200


def test_an_incident_with_evidence_of_the_wrong_shape_still_renders(collector, enroll):
    token = enroll("web-01")
    fim = Event("fim", {"path": "/var/www/html/a.php", "change": "created", "root": "/var/www/html"}, "high", "new")
    assert post(collector, token, [fim.to_dict()]).ok
    with collector.store.transaction() as conn:
        conn.execute("UPDATE incidents SET evidence=?", (json.dumps(
            {"fim": [{"path": 5, "diff": 7, "rules": "x", "ts": "y"}, "text"], "views": "nope",
             "anomalies": [{"evidence": []}]}),))
    admin = {"Authorization": f"Bearer {collector.admin_token}"}
    listing = requests.get(f"{collector.url}/api/v1/incidents", headers=admin, timeout=10)
    assert listing.status_code == 200
    incident = listing.json()["incidents"][0]["id"]
    page = requests.get(f"{collector.url}/api/v1/incidents/{incident}", headers=admin, timeout=10)
    assert page.status_code == 200, page.text[:300]
    browser = console_admin(collector)
    for path in (f"/incidents/{incident}", f"/incidents/{incident}?part=1", "/", "/agents", "/sites"):
        answer = browser.get(f"{collector.url}{path}", timeout=10)
        assert answer.status_code == 200 and "/login" not in answer.url, (path, answer.status_code)


def console_admin(collector) -> requests.Session:
    """A console session for the first administrator (created with the admin token, as /setup does)."""
    import re

    browser = requests.Session()
    page = browser.get(f"{collector.url}/setup", timeout=10).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = browser.post(f"{collector.url}/setup", timeout=10, data={
        "csrf": csrf, "token": collector.admin_token, "username": "ana", "password": "correct horse 42",
        "password2": "correct horse 42"})
    assert answer.status_code == 200, answer.text[:300]
    return browser


def test_free_form_labels_cannot_add_series(collector, enroll):
    token = enroll("web-01")
    kinds = [Event("traffic", {"kind": f"k{i}", "state": "start"}).to_dict() for i in range(2000)]
    assert post(collector, token, kinds).status_code == 400
    sites = [Event("defacement", {"site": f"s{i}", "state": "defaced"}, "high").to_dict() for i in range(300)]
    assert post(collector, token, sites).ok
    text = requests.get(f"{collector.url}/metrics", timeout=10).text
    series = [line for line in text.splitlines() if line.startswith("govwatch_defacement_detected{")]
    assert len(series) == SITES_PER_AGENT
    assert metric(collector, "govwatch_bad_rows_skipped_total", agent="web-01") >= 300 - SITES_PER_AGENT


def test_an_agent_with_a_1999_clock_is_measured_stored_and_flagged(collector, enroll):
    token = enroll("web-01")
    batch = [Event("fim", {"path": "/var/www/html/x.php", "change": "created"}, "high", "x", ts=Y1999).to_dict(),
             Event("heartbeat", {"version": "t"}, ts=Y1999 + 1).to_dict()]
    before = time.time()
    answer = post(collector, token, batch, **{"X-Govwatch-Sent-At": str(Y1999 + 2)})
    assert answer.status_code == 200 and answer.json()["accepted"] == 2
    row = collector.store.query("SELECT ts, data FROM events WHERE kind='fim'")[0]
    assert row["ts"] >= before  # stored with the receive time...
    assert json.loads(row["data"])["clock_skew"]["agent_ts"] == Y1999  # ...and its own time kept, flagged
    assert metric(collector, "govwatch_agent_clock_skew_seconds", agent="web-01") < -(before - Y1999) + 60


def test_a_normal_backlog_is_not_mistaken_for_skew(collector, enroll):
    token = enroll("web-01")
    old = time.time() - 3 * 3600  # spooled while the collector was away
    batch = [Event("fim", {"path": "/var/www/html/y.php", "change": "created"}, "high", "y", ts=old).to_dict()]
    assert post(collector, token, batch).ok
    assert collector.store.query("SELECT ts FROM events")[0]["ts"] == old


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not can_mount(), reason="needs root to mount a small tmpfs")
def test_readyz_says_not_ready_when_the_disk_is_full(tmp_path):
    data = tmp_path / "collector"
    data.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(data)]).returncode != 0:
        pytest.skip("mount -t tmpfs refused here")
    running = None
    try:
        running = Collector(load_config(str(make_collector_config(tmp_path, limits={"min_free_disk": "512KiB"}))))
        running.start()
        key = Path(running.cfg["enroll_key_file"]).read_text().strip()
        token = requests.post(f"{running.url}/api/v1/enroll", json={"name": "web-01", "enroll_key": key},
                              timeout=10).json()["token"]
        assert requests.get(f"{running.url}/readyz", timeout=10).status_code == 200
        filler = data / "filler"
        with open(filler, "wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError:
                pass
        ready = requests.get(f"{running.url}/readyz", timeout=10)
        assert ready.status_code == 503 and "free" in ready.text
        big = [Event("fim", {"path": f"/var/www/html/{i}-{'x' * 3000}", "change": "created"}).to_dict()
               for i in range(200)]
        answer = post(running, token, big)
        assert answer.status_code in (200, 503), answer.text  # never a 500
        filler.unlink()
        assert requests.get(f"{running.url}/readyz", timeout=10).status_code == 200
    finally:
        if running is not None:
            running.stop()
        subprocess.run(["umount", "-l", str(data)])


def test_a_damaged_store_stops_start_up_with_one_line(tmp_path):
    config = make_collector_config(tmp_path)
    cfg = load_config(str(config))
    store = Path(db_path(cfg))
    Store(str(store)).close()
    for suffix in ("-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    raw = bytearray(store.read_bytes())
    raw[100:4096] = os.urandom(3996)  # the schema page
    store.write_bytes(bytes(raw))
    damaged = store.read_bytes()
    result = subprocess.run([sys.executable, "-m", "govwatch.cli", "collector", "run", "-c", str(config)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(store) in lines[0] and "backup" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert store.read_bytes() == damaged  # never deleted or rewritten



def test_a_file_name_with_an_undecodable_byte_is_stored_escaped(collector, enroll):
    token = enroll("web-01")
    raw = json.dumps([Event("fim", {"path": "/var/www/html/bad-\udcff.php", "change": "created",
                                    "root": "/var/www/html", "rules": ["x\udcfe"]}, "high",
                            "created bad-\udcff.php").to_dict()])  # ASCII JSON with "\udcff" escapes
    answer = post(collector, token, raw.encode())
    assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text
    stored = json.loads(collector.store.query("SELECT data FROM events")[0]["data"])
    assert stored["path"] == "/var/www/html/bad-\\xff.php"
    admin = {"Authorization": f"Bearer {collector.admin_token}"}
    incident = requests.get(f"{collector.url}/api/v1/incidents", headers=admin, timeout=10).json()["incidents"][0]
    assert requests.get(f"{collector.url}/api/v1/incidents/{incident['id']}", headers=admin,
                        timeout=10).status_code == 200
