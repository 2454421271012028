"""Incidents as security staff read them: a defacement and the file changes behind it are one story."""

from __future__ import annotations

import json

import requests

from govwatch.events import Event


def post(collector, token, *events: Event) -> None:
    answer = requests.post(f"{collector.url}/api/v1/events", json=[e.to_dict() for e in events],
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text


def incidents(collector) -> list[dict]:
    admin = {"Authorization": f"Bearer {collector.admin_token}"}
    return requests.get(f"{collector.url}/api/v1/incidents", headers=admin, timeout=5).json()["incidents"]


def test_file_change_then_defacement_is_one_open_incident(collector, enroll):
    token = enroll("web-01")
    post(collector, token, Event("fim", {"path": "/var/www/html/index.php", "change": "modified",
                                         "root": "/var/www/html", "diff": "-<h1>Ministry</h1>\n+<h1>Hacked by X</h1>"},
                                 "high", "index.php modified"))
    post(collector, token, Event("defacement", {"site": "moc-home", "state": "defaced", "score": 0.97,
                                                "reasons": ["signature: 'hacked by'"], "new_domains": [],
                                                "diff": "+Hacked by X"}, "critical", "moc-home defaced"))
    open_ones = [i for i in incidents(collector) if i["status"] != "resolved"]
    assert len(open_ones) == 1
    story = open_ones[0]
    assert story["kind"] == "defacement" and story["severity"] == "critical"
    assert [f["path"] for f in story["evidence"]["fim"]] == ["/var/www/html/index.php"]
    assert story["evidence"]["views"][0]["reasons"] == ["signature: 'hacked by'"]
    merged = [i for i in incidents(collector) if i["kind"] == "fim"]
    assert merged[0]["resolved_by"] == f"merged into incident #{story['id']}"


def test_file_change_after_defacement_joins_it(collector, enroll):
    token = enroll("web-01")
    post(collector, token, Event("defacement", {"site": "moc-home", "state": "defaced", "score": 0.9}, "critical"))
    post(collector, token, Event("fim", {"path": "/var/www/html/uploads/x.php", "change": "created"}, "critical",
                                 "web shell created"))
    rows = incidents(collector)
    assert len(rows) == 1 and rows[0]["evidence"]["fim"][0]["path"] == "/var/www/html/uploads/x.php"


def test_low_severity_changes_open_no_incident(collector, enroll):
    token = enroll("web-01")
    post(collector, token, Event("fim", {"path": "/var/www/html/img/a.png", "change": "modified"}, "low"))
    assert incidents(collector) == []
    rows = collector.store.query("SELECT data FROM events WHERE kind='fim'")
    assert json.loads(rows[0]["data"])["path"] == "/var/www/html/img/a.png"


def test_traffic_anomaly_opens_and_closes(collector, enroll):
    token = enroll("web-01")
    post(collector, token, Event("traffic", {"kind": "syn_flood", "state": "start", "evidence": {"pps": 9000}},
                                 "high", "SYN flood"))
    metrics = requests.get(f"{collector.url}/metrics", timeout=5).text
    assert 'govwatch_traffic_anomaly_active{agent="web-01",kind="syn_flood"} 1.0' in metrics
    post(collector, token, Event("traffic", {"kind": "syn_flood", "state": "end", "evidence": {}}, "high"))
    metrics = requests.get(f"{collector.url}/metrics", timeout=5).text
    assert 'govwatch_traffic_anomaly_active{agent="web-01",kind="syn_flood"}' not in metrics
    assert 'govwatch_traffic_anomalies_total{agent="web-01",kind="syn_flood"} 1.0' in metrics
    rows = incidents(collector)
    assert len(rows) == 1 and [a["state"] for a in rows[0]["evidence"]["anomalies"]] == ["start", "end"]


def test_with_a_web_root_only_changes_under_it_join_the_defacement(tmp_path, store_kind):
    from govwatch.collector.config import load_config
    from govwatch.collector.service import Collector

    from .conftest import make_collector_config

    site = {"name": "moc-home", "url": "http://127.0.0.1:9/", "interval": "1h", "web_root": "web-01:/var/www/moc"}
    running = Collector(load_config(str(make_collector_config(tmp_path, sites=[site], store=store_kind))))
    running.start()
    try:
        key = open(running.cfg["enroll_key_file"]).read().strip()
        answer = requests.post(f"{running.url}/api/v1/enroll", json={"name": "web-01", "enroll_key": key})
        token = answer.json()["token"]
        post(running, token,
             Event("fim", {"path": "/var/www/moc/index.php", "change": "modified", "root": "/var/www/moc"}, "high"),
             Event("fim", {"path": "/etc/nginx/nginx.conf", "change": "modified", "root": "/etc/nginx"}, "high"))
        post(running, token, Event("defacement", {"site": "moc-home", "state": "defaced", "score": 0.95}, "critical"))
        rows = {i["kind"] + ":" + i["status"]: i for i in incidents(running)}
        story = rows["defacement:open"]
        assert [f["path"] for f in story["evidence"]["fim"]] == ["/var/www/moc/index.php"]
        assert rows["fim:open"]["evidence"]["fim"][0]["path"] == "/etc/nginx/nginx.conf"  # not this site's story
        assert rows["fim:resolved"]["resolved_by"] == f"merged into incident #{story['id']}"
    finally:
        running.stop()
