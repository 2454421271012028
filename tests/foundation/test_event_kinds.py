"""The event declarations: what the agents really send passes, anything else is refused naming the field."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govwatch import event_kinds
from govwatch.agents.fim.state import state_from_stat
from govwatch.agents.traffic.tracker import Anomaly
from govwatch.event_kinds import EventError, F
from govwatch.events import check_event, new_id

ROOT = Path(__file__).resolve().parents[2]


def event(kind: str, data: dict, **extra) -> dict:
    return {"id": new_id(), "kind": kind, "ts": time.time(), "data": data, **extra}


def real_events(tmp_path: Path) -> list[dict]:
    """One event of each kind shaped exactly as the agents build them."""
    page = tmp_path / "index.php"
    page.write_text("<?php echo 1;")
    after = state_from_stat(os.lstat(page))._replace(sha256="a" * 64).to_json()
    anomaly = Anomaly("syn_flood", "198.51.100.7", "192.0.2.1", time.time() - 5, time.time(), "high",
                      {"pps": 12000, "ports": [80, 443]}, "SYN flood")
    return [
        event("heartbeat", {"version": "0.1.0", "ministry": "MPTC", "hostname": "web", "watchers": ["fim"],
                            "uptime": 12.5, "spool_backlog": 0, "spool_dropped": 0, "spool_dead": 0,
                            "sender_failures": 0, "stats": {"fim": {"watched_files": 10, "overflows": 0},
                                                            "traffic": {"packets": 5, "kernel_drops": 0,
                                                                        "active": []}}}),
        event("fim", {"path": str(page), "change": "created", "root": str(tmp_path), "before": None,
                      "after": after, "old_path": None, "rules": ["web-php"], "diff": "+<?php", "known_good": True,
                      "webshell_markers": []}, severity="high"),
        event("fim_status", {"problem": "overflow", "detail": "inotify queue overflow", "path": str(tmp_path)}),
        event("defacement", {"site": "moc-home", "url": "http://127.0.0.1/", "state": "defaced", "view": "browser",
                             "score": 0.9, "reasons": ["Hacked by"], "new_domains": [], "diff": "-a\n+b",
                             "title": "Hacked"}),
        event("traffic", {"state": "start", **anomaly.record()}),
        event("agent", {"problem": "watcher_failed", "watcher": "traffic", "detail": "no permission"}),
        event("logs", {"kind": "ssh_brute_force", "state": "start", "start": time.time() - 60, "end": time.time(),
                       "src": "203.0.113.5", "evidence": {"rule": "r", "title": "SSH password guessing", "hits": 40,
                                                          "service": "ssh", "failures": 40, "users": ["root"],
                                                          "sample": [{"ts": time.time(), "src": "203.0.113.5",
                                                                      "outcome": "failed", "user": "root",
                                                                      "method": "password"}]}}),
    ]


def test_every_kind_the_agents_send_is_accepted(tmp_path):
    events = real_events(tmp_path)
    assert {e["kind"] for e in events} == set(event_kinds.REGISTRY)
    for index, raw in enumerate(events):
        assert check_event(raw, index)["data"] == raw["data"]


@pytest.mark.parametrize("kind, data, message", [
    ("heartbeat", {"spool_backlog": "lots"}, "events[0].data.spool_backlog: must be an integer (got 'lots')"),
    ("heartbeat", {"stats": {"fim": {"watched_files": -1}}}, "events[0].data.stats.fim.watched_files: must be >= 0"),
    ("fim", {"path": "/x", "change": "exploded"}, "events[0].data.change: must be one of created, modified, "
                                                  "deleted, attributes (got 'exploded')"),
    ("fim", {"change": "created"}, "events[0].data.path: required"),
    ("fim", {"path": "/x", "change": "created", "after": {"size": "big"}},
     "events[0].data.after.size: must be an integer (got 'big')"),
    ("defacement", {"site": "Not A Label!", "state": "defaced"}, "events[0].data.site: must match"),
    ("defacement", {"site": "moc", "state": "defaced", "reasons": "one"}, "events[0].data.reasons: must be a list"),
    ("traffic", {"kind": "k" * 5000, "state": "start"}, "events[0].data.kind: must be one of"),
    ("traffic", {"kind": "syn_flood", "state": "start", "evidence": {"x": [[[[[[[[[[1]]]]]]]]]]}},
     "events[0].data.evidence.x: nested deeper than"),
    ("agent", {"problem": "x", "blob": "y" * 20000}, "events[0].data.blob: larger than"),
])
def test_a_wrong_shape_is_refused_naming_the_field(kind, data, message):
    with pytest.raises(EventError) as caught:
        check_event(event(kind, data), 0)
    assert str(caught.value).startswith(message)


def test_docs_are_generated_from_the_declarations():
    assert (ROOT / "docs" / "events.md").read_text() == event_kinds.markdown() + "\n", \
        "docs/events.md is stale: python -m govwatch.event_kinds > docs/events.md"


def test_a_new_kind_and_choice_can_be_declared():
    saved = dict(event_kinds.REGISTRY)
    try:
        event_kinds.declare("logs", "a log finding", {"kind": F("enum", "what", required=True, choices=("scan",))})
        event_kinds.add_choices("logs", "kind", "brute_force")
        assert check_event(event("logs", {"kind": "brute_force"}), 0)["kind"] == "logs"
        with pytest.raises(EventError):
            check_event(event("logs", {"kind": "other"}), 0)
    finally:
        event_kinds.REGISTRY.clear()
        event_kinds.REGISTRY.update(saved)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                 max_size=4), max_leaves=30)
KEYS = st.sampled_from(sorted({k for kind in event_kinds.REGISTRY.values() for k in kind.fields}) + ["x"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(event_kinds.REGISTRY)), data=st.dictionaries(KEYS, JSON, max_size=8),
       ts=st.one_of(st.floats(), st.integers(), st.text(max_size=5)))
def test_any_json_is_either_accepted_or_refused_with_a_field(kind, data, ts):
    raw = {"id": new_id(), "kind": kind, "ts": ts, "data": data}
    try:
        checked = check_event(raw, 3)
    except EventError as exc:
        assert str(exc).startswith("events[3]")
        return
    again = check_event({**raw, "data": checked["data"], "ts": checked["ts"]}, 3)
    assert again["data"] == checked["data"]


def test_evidence_text_over_its_bound_is_cut_not_refused():
    raw = event("fim", {"path": "/x", "change": "modified", "diff": "+" + "a" * 200_000})
    diff = check_event(raw, 0)["data"]["diff"]
    assert len(diff) < 70_000 and diff.endswith(event_kinds.CUT_MARK)
