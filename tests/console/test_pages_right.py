"""What the console shows, checked as an analyst reads it: the Site column, traffic evidence present or
absent, rule titles, human words, times with their zone, the favicon, the setup page, and traffic
incidents that resolve once their cause has ended and stayed quiet."""

from __future__ import annotations

import html
import re
import time

from govwatch.collector.incidents import resolve_quiet
from govwatch.events import Event

from .conftest import Agent

SCRIPT_RULE = "1188b734-5986-4b2d-980d-57d1d52f0df5"


def list_row(page: str, incident: int) -> str:
    start = page.index(f'href="/incidents/{incident}"')
    return page[page.rindex("<tr", 0, start):page.index("</tr>", start)]


def test_an_incident_without_a_site_shows_a_dash_in_the_site_column(collector, admin, incidents):
    page = admin.get(f"{collector.url}/", timeout=10).text
    def site_cell(incident: int) -> str:
        return re.search(r'data-label="Site"[^>]*>([^<]*)<', list_row(page, incident)).group(1)

    assert site_cell(incidents["traffic"]) == "—" and site_cell(incidents["defacement"]) == "moc-home"


def test_traffic_page_without_ports_or_rates_shows_neither_heading(collector, admin):
    Agent(collector, "web-07").post(Event("traffic", {"kind": "brute_force", "state": "start", "src": "203.0.113.4",
                                                      "dst": "10.0.0.5", "evidence": {"explanation": "30 fails"}},
                                          "high", "brute force from 203.0.113.4"))
    incident = collector.store.query("SELECT id FROM incidents WHERE agent='web-07'")[0]["id"]
    page = admin.get(f"{collector.url}/incidents/{incident}", timeout=10).text
    assert "<h3>Ports</h3>" not in page and "<h3>Rates</h3>" not in page and "Ports —" not in page
    assert "203.0.113.4" in page and "password guessing against 10.0.0.5" in page.lower()


def test_rules_show_titles_with_the_id_on_hover_and_summaries_have_words(collector, admin):
    Agent(collector, "web-08").post(Event(
        "fim", {"path": "/var/www/html/uploads/x.php", "change": "created", "root": "/var/www/html",
                "rules": [SCRIPT_RULE]}, "critical",
        "script /var/www/html/uploads/x.php created in /var/www/html (upload folder: True); check it for a web shell"))
    incident = collector.store.query("SELECT id FROM incidents WHERE agent='web-08'")[0]["id"]
    page = admin.get(f"{collector.url}/incidents/{incident}", timeout=10).text
    assert f'title="rule id {SCRIPT_RULE}">Script file created in a web root or an upload folder<' in page
    assert "(upload folder: yes)" in page and "True" not in page
    khmer = admin.get(f"{collector.url}/incidents/{incident}?lang=km", timeout=10).text
    assert "ឯកសារស្គ្រីបត្រូវបានបង្កើតនៅក្នុងថតគេហទំព័រ ឬថតផ្ទុកឡើង" in khmer and "ត្រូវបានបង្កើត" in khmer


def test_times_carry_their_zone_and_pages_a_favicon(collector, admin, incidents):
    page = admin.get(f"{collector.url}/incidents/{incidents['fim']}", timeout=10).text
    assert re.search(r"<time datetime=\"[^\"]+\+07:00\" title=\"[^\"]*\+0700 \(Asia/Phnom_Penh\)\"", page)
    assert "Times are in Asia/Phnom_Penh." in page and 'rel="icon" href="/static/favicon.svg"' in page
    icon = admin.get(f"{collector.url}/static/favicon.svg", timeout=10)
    assert icon.status_code == 200 and icon.headers["Content-Type"] == "image/svg+xml" and b"<svg" in icon.content


def test_setup_page_has_no_literal_backticks(collector):
    import requests

    for lang in ("en", "km"):
        page = requests.get(f"{collector.url}/setup?lang={lang}", timeout=10).text
        assert "`" not in html.unescape(page) and "govwatch collector init" in page


def test_a_traffic_incident_resolves_after_its_anomaly_ended_and_stayed_quiet(collector, admin, incidents):
    agent = Agent(collector, "web-06")
    start = {"kind": "udp_flood", "src": "many", "dst": "10.0.0.6", "evidence": {"pps": 90000}}
    agent.post(Event("traffic", {**start, "state": "start"}, "high", "UDP flood"))
    agent.post(Event("traffic", {"kind": "syn_flood", "state": "start", "src": "many", "dst": "10.0.0.6"}, "high", "x"))
    rows = {r["key"]: r["id"] for r in collector.store.query("SELECT id, key FROM incidents WHERE agent='web-06'")}
    agent.post(Event("traffic", {**start, "state": "end"}, "high", "UDP flood ended"))
    later = time.time() + 901
    with collector.store.transaction() as conn:
        assert resolve_quiet(conn, time.time() + 10, 900.0) == 0  # ended, but not quiet long enough yet
        assert resolve_quiet(conn, later, 900.0) == 1  # the SYN flood never ended: stays open
    status = {r["id"]: r for r in collector.store.query("SELECT id, status, resolved_by FROM incidents")}
    assert status[rows["traffic:web-06:udp_flood"]]["status"] == "resolved"
    assert status[rows["traffic:web-06:syn_flood"]]["status"] == "open"
    assert status[incidents["defacement"]]["status"] == "open" and status[incidents["fim"]]["status"] == "open"
    page = admin.get(f"{collector.url}/incidents/{rows['traffic:web-06:udp_flood']}", timeout=10).text
    assert "govwatch (the cause ended 15 min 00 s before)" in page


def test_the_running_collector_resolves_a_quiet_traffic_incident_by_itself(tmp_path):
    import yaml

    from govwatch.collector.config import load_config
    from govwatch.collector.service import Collector

    from .conftest import make_config

    path = make_config(tmp_path)
    cfg = yaml.safe_load(path.read_text())
    cfg["incidents"] = {"resolve_after": "1s"}
    path.write_text(yaml.safe_dump(cfg))
    running = Collector(load_config(str(path)))
    running.start()
    try:
        agent = Agent(running, "web-06")
        flood = {"kind": "udp_flood", "src": "many", "dst": "10.0.0.6", "evidence": {}}
        agent.post(Event("traffic", {**flood, "state": "start"}, "high", "UDP flood"),
                   Event("traffic", {**flood, "state": "end"}, "high", "UDP flood ended"))
        deadline = time.time() + 60
        while time.time() < deadline:
            row = running.store.query("SELECT status, resolved_by FROM incidents")[0]
            if row["status"] == "resolved":
                break
            time.sleep(0.2)
        assert row["status"] == "resolved" and row["resolved_by"].startswith("govwatch:quiet:")
    finally:
        running.stop()
