"""At the collector: a web shell's FIM incident gains the requests that used it (and the source's traffic);
a login-guessing finding names the packet view's incident for the same source."""

from __future__ import annotations

import requests

from govwatch.events import Event


def post(collector, token, *events: Event) -> None:
    answer = requests.post(f"{collector.url}/api/v1/events", json=[e.to_dict() for e in events],
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text


def incidents(collector) -> list[dict]:
    admin = {"Authorization": f"Bearer {collector.admin_token}"}
    return requests.get(f"{collector.url}/api/v1/incidents", headers=admin, timeout=5).json()["incidents"]


def shell_use(path: str = "/uploads/x.php", file: str | None = "/var/www/html/uploads/x.php",
              state: str = "start") -> Event:
    evidence = {"path": path, "file": file, "requests": 1,
                "sample": [{"ts": 1.0, "src": "203.0.113.66", "method": "GET", "target": path + "?c=id",
                            "status": 200, "ua": "curl/8"}]}
    return Event("logs", {"kind": "webshell_use", "state": state, "src": "203.0.113.66", "start": 1.0, "end": 1.0,
                          "evidence": evidence}, "critical", f"web shell {path} used from 203.0.113.66")


def test_web_shell_created_then_used_is_one_incident(collector, enroll) -> None:
    token = enroll("web-01")
    post(collector, token, Event("traffic", {"kind": "port_scan", "state": "start", "src": "203.0.113.66",
                                             "evidence": {"ports": 40}}, "medium", "port scan from 203.0.113.66"))
    post(collector, token, Event("fim", {"path": "/var/www/html/uploads/x.php", "change": "created",
                                         "root": "/var/www/html"}, "critical", "script x.php created"))
    post(collector, token, shell_use(), shell_use(state="update"))
    open_ones = [i for i in incidents(collector) if i["status"] != "resolved" and i["kind"] != "traffic"]
    assert len(open_ones) == 1, open_ones
    story = open_ones[0]
    assert story["kind"] == "fim" and story["severity"] == "critical"
    assert [f["path"] for f in story["evidence"]["fim"]] == ["/var/www/html/uploads/x.php"]
    assert [r["state"] for r in story["evidence"]["requests"]] == ["start", "update"]
    assert story["evidence"]["requests"][0]["evidence"]["sample"][0]["target"] == "/uploads/x.php?c=id"
    assert story["evidence"]["traffic"][0]["incidents"][0]["kind"] == "port_scan"


def test_web_shell_joins_by_url_when_the_agent_did_not_name_the_file(collector, enroll) -> None:
    token = enroll("web-01")
    post(collector, token, Event("fim", {"path": "/var/www/html/wp-content/uploads/a.php", "change": "created",
                                         "root": "/var/www/html"}, "critical"))
    post(collector, token, shell_use("/wp-content/uploads/a.php", None))
    assert [i["kind"] for i in incidents(collector)] == ["fim"]


def test_web_shell_without_a_fim_change_opens_its_own_incident(collector, enroll) -> None:
    token = enroll("web-01")
    post(collector, token, shell_use())
    rows = incidents(collector)
    assert len(rows) == 1 and rows[0]["kind"] == "logs" and rows[0]["severity"] == "critical"


def test_brute_force_names_the_packet_view_of_the_same_source(collector, enroll) -> None:
    token = enroll("web-01")
    post(collector, token, Event("traffic", {"kind": "brute_force", "state": "start", "src": "203.0.113.7",
                                             "evidence": {"attempts": 30}}, "high", "brute force from 203.0.113.7"))
    for src in ("203.0.113.7", "198.51.100.1"):
        post(collector, token, Event("logs", {"kind": "web_brute_force", "state": "start", "src": src, "start": 1.0,
                                              "end": 2.0, "evidence": {"attempts": 12}}, "high", f"guessing {src}"))
    rows = {i["title"]: i for i in incidents(collector) if i["kind"] == "logs"}
    named = rows["guessing 203.0.113.7"]["evidence"]["findings"][0]["packet_view"]
    assert named[0]["kind"] == "brute_force"
    assert rows["guessing 198.51.100.1"]["evidence"]["findings"][0]["packet_view"] == []


def test_finding_end_extends_but_never_opens(collector, enroll) -> None:
    token = enroll("web-01")
    post(collector, token, Event("logs", {"kind": "vuln_probe", "state": "end", "src": "198.51.100.9",
                                          "evidence": {}}, "info", "ended"))
    assert incidents(collector) == []
