"""The inside view in one collector: the site's agent reports its local fetch in heartbeats; what the
collector makes of it when outside probes fail (in process, real store; the processes are in test_collectors)."""

from __future__ import annotations

import json
import time

import pytest

from govwatch.collector.config import db_path, load_config
from govwatch.collector.outside import OutsideView
from govwatch.collector.probes import ProbeResult
from govwatch.collector.store import Store
from govwatch.collector.vantage import _local_entry

SITE_URL = "http://127.0.0.1:9/"


@pytest.fixture
def outside(tmp_path):
    path = tmp_path / "collector.yml"
    path.write_text("listen: 127.0.0.1:0\ndata_dir: .\nname: col-a\nvantage: net-a\nsites:\n"
                    f"  - {{name: moc, url: '{SITE_URL}', confirm_failures: 2, web_root: 'web1:/var/www'}}\n")
    cfg = load_config(str(path))
    store = Store(db_path(cfg))
    view = OutsideView(cfg, store)
    view.leases.tick()
    yield view
    view.stop()
    store.close()


def agent_reports(store: Store, local: object, seen: float) -> None:
    """The agent row as a heartbeat leaves it (status = the heartbeat's data)."""
    with store.transaction() as conn:
        conn.execute("INSERT INTO agents(name, token_sha256, enrolled, last_seen, status) VALUES (?,?,?,?,?) "
                     "ON CONFLICT(name) DO UPDATE SET last_seen=excluded.last_seen, status=excluded.status",
                     ("web1", "x" * 64, seen, seen, json.dumps({"stats": {"defacement": {"local": local}}})))


def feed(outside: OutsideView, up: bool, ts: float) -> None:
    site = outside.cfg["sites"][0]
    result = ProbeResult(url=SITE_URL, ts=ts, up=up, status=200 if up else None,
                         error=None if up else "connect: Connection refused", phases={"resolve": 0.0})
    change = outside.tracker.record(site, result)
    if change:
        outside.up_or_down(site, result, change)
    outside._observed(site, result)


def incidents(outside: OutsideView) -> list[tuple]:
    return [tuple(r) for r in outside.store.query("SELECT kind, status FROM incidents ORDER BY id")]


def test_up_inside_down_outside_is_a_finding_resolved_when_outside_works_again(outside):
    now = time.time()
    agent_reports(outside.store, {"moc": {"ts": now, "up": True, "status": 200, "error": None}}, now)
    feed(outside, False, now - 2)
    feed(outside, False, now - 1)
    assert incidents(outside) == [("site_unreachable", "open")]
    assert outside.store.query("SELECT * FROM outages") == []
    feed(outside, True, now + 1)
    assert incidents(outside) == [("site_unreachable", "resolved")]


def test_down_inside_and_outside_is_an_outage_both_views_agree_on(outside):
    now = time.time()
    agent_reports(outside.store, {"moc": {"ts": now, "up": False, "status": 503, "error": None}}, now)
    feed(outside, False, now - 2)
    feed(outside, False, now - 1)
    [(kind, status)] = incidents(outside)
    assert (kind, status) == ("site_down", "open")
    evidence = json.loads(outside.store.query("SELECT evidence FROM incidents")[0][0])
    assert evidence["probes"][0]["confirmed_by"] == ["net-a", "inside"]


def test_an_agent_fetch_older_than_the_failures_waits_then_is_ignored(outside):
    now = time.time()
    agent_reports(outside.store, {"moc": {"ts": now - 100, "up": True, "status": 200}}, now)
    feed(outside, False, now - 2)
    feed(outside, False, now - 1)
    assert incidents(outside) == []                 # waiting for a newer inside view
    outside.vantage.clock = lambda: now + 60        # confirm_timeout (30 s) passed without one
    feed(outside, False, now)
    assert incidents(outside) == [("site_down", "open")]


@pytest.mark.parametrize("local", [None, [], "x", {"moc": "up"}, {"moc": {"ts": "soon", "up": True}},
                                   {"moc": {"up": True}}, {"other": {"ts": 1.0, "up": True}}])
def test_a_malformed_heartbeat_gives_no_inside_view(local):
    status = json.dumps({"stats": {"defacement": {"local": local}}})
    assert _local_entry(status, {"name": "moc", "url": SITE_URL}) is None
    assert _local_entry("{not json", {"name": "moc", "url": SITE_URL}) is None


def test_a_typed_entry_is_kept_and_odd_fields_dropped():
    status = json.dumps({"stats": {"defacement": {"local": {"moc": {"ts": 5, "up": 1, "status": True,
                                                                    "error": "e" * 999}}}}})
    assert _local_entry(status, {"name": "moc", "url": SITE_URL}) == {"ts": 5.0, "up": False, "status": None,
                                                                      "error": "e" * 200}
