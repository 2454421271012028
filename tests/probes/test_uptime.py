"""Outage confirmation, state changes and monthly accounting over a real SQLite store."""

from __future__ import annotations

import sqlite3

import pytest

from govwatch.collector.probes import CertInfo, ProbeResult
from govwatch.collector.uptime import (
    UptimeTracker,
    account_site,
    connect,
    find_gaps,
    maintenance_active,
    month_bounds,
    subtract,
)
from govwatch.errors import GovwatchError

SITE = {"name": "moc-home", "url": "https://moc.example/", "ministry": "MoC", "interval": 60.0,
        "confirm_failures": 3}


def probe(ts: float, up: bool, ip: str = "192.0.2.10", error: str | None = None) -> ProbeResult:
    return ProbeResult(url=SITE["url"], ts=ts, up=up, status=200 if up else None, duration=0.25,
                       error=None if up else (error or "connect: Connection refused"), ip=ip,
                       cert=CertInfo(0, 2_000_000_000, "CN=moc", "CN=ca", True))


@pytest.fixture
def tracker(store_target):
    tracker = UptimeTracker(store_target)
    yield tracker
    tracker.close()


def rows(tracker: UptimeTracker, sql: str) -> list[sqlite3.Row]:
    return tracker._conn.execute(sql).fetchall()


def test_fewer_failures_than_the_confirmation_rule_open_no_outage(tracker):
    changes = [tracker.record(SITE, probe(t, up)) for t, up in [(0, True), (60, False), (120, False), (180, True)]]
    assert changes == [None, None, None, None]
    assert rows(tracker, "SELECT * FROM outages") == []
    assert len(rows(tracker, "SELECT * FROM site_probes")) == 4


def test_confirmed_outage_starts_at_the_first_failure_and_ends_at_the_first_success(tracker):
    tracker.record(SITE, probe(0, True))
    assert tracker.record(SITE, probe(60, False)) is None
    assert tracker.record(SITE, probe(120, False)) is None
    down = tracker.record(SITE, probe(180, False, error="timeout during connect"))
    assert down == {"site": "moc-home", "up": False, "since": 60, "cause": "timeout during connect"}
    assert tracker.record(SITE, probe(240, False)) is None
    up = tracker.record(SITE, probe(300, True))
    assert up == {"site": "moc-home", "up": True, "since": 300, "cause": None}
    outage = rows(tracker, "SELECT start, ended, cause FROM outages")
    assert [tuple(r) for r in outage] == [(60, 300, "timeout during connect")]
    state = rows(tracker, "SELECT up, since, failures FROM site_state")[0]
    assert tuple(state) == (1, 300, 0)


def test_state_survives_a_new_tracker_on_the_same_store(store_target):
    path = store_target
    first = UptimeTracker(path)
    for t in (0, 60, 120):
        first.record(SITE, probe(t, False))
    first.close()
    second = UptimeTracker(path)
    assert second.record(SITE, probe(180, True))["up"] is True
    assert [tuple(r) for r in rows(second, "SELECT start, ended FROM outages")] == [(0, 180)]
    second.close()


def test_ip_change_is_counted(tracker):
    tracker.record(SITE, probe(0, True, ip="192.0.2.10"))
    tracker.record(SITE, probe(60, True, ip="198.51.100.7"))
    tracker.record(SITE, probe(120, True, ip="198.51.100.7"))
    counter = rows(tracker, "SELECT labels, value FROM counters WHERE name='govwatch_site_ip_changes_total'")
    assert [tuple(r) for r in counter] == [('{"site":"moc-home"}', 1.0)]


def test_month_is_a_calendar_month_in_phnom_penh():
    start, end = month_bounds("2026-10", "Asia/Phnom_Penh")
    assert start == 1790787600  # 2026-10-01T00:00+07:00
    assert end - start == 31 * 86400
    assert month_bounds("2026-12", "Asia/Phnom_Penh")[1] - month_bounds("2026-12", "Asia/Phnom_Penh")[0] == 31 * 86400


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "26-10", "2026/10", "October", "2026-1"])
def test_bad_month_is_refused_in_one_line(bad):
    with pytest.raises(GovwatchError, match="YYYY-MM"):
        month_bounds(bad, "Asia/Phnom_Penh")


def test_maintenance_windows_match_site_ministry_or_everything():
    cfg = {"report": {"timezone": "Asia/Phnom_Penh"}, "maintenance": [
        {"site": "moc-home", "start": "2026-10-04T22:00", "end": "2026-10-05T02:00+07:00"},
        {"ministry": "MoH", "start": "2026-10-10T00:00+07:00", "end": "2026-10-10T01:00+07:00"}]}
    during = month_bounds("2026-10", "Asia/Phnom_Penh")[0] + 3 * 86400 + 23 * 3600  # 4 Oct 23:00 local
    assert maintenance_active(cfg, SITE, during)
    assert not maintenance_active(cfg, {**SITE, "name": "other"}, during)
    moh = {"name": "moh-home", "ministry": "MoH"}
    assert maintenance_active(cfg, moh, month_bounds("2026-10", "Asia/Phnom_Penh")[0] + 9 * 86400 + 1800)


def test_bad_maintenance_time_names_the_field():
    cfg = {"config_file": "/etc/govwatch/collector.yml", "maintenance": [{"start": "tomorrow", "end": "x"}]}
    with pytest.raises(GovwatchError, match=r"collector.yml: maintenance\[0\].start: not an ISO time"):
        maintenance_active(cfg, SITE, 0)


def test_gap_detection_and_interval_subtraction():
    assert find_gaps([0, 60, 120, 1000, 1060], 60, 0, 1100) == [(180, 1000)]
    assert find_gaps([0, 60], 60, 0, 1000) == [(120, 1000)]  # the collector stopped before the end
    assert subtract([(0, 100)], [(10, 20), (50, 200)]) == [(0, 10), (20, 50)]


def test_month_account_excludes_maintenance_and_gaps(tmp_path):
    """30 days probed every 60 s: 2 h outage, of which 1 h inside maintenance, plus a 5 h data gap."""
    cfg = {"report": {"timezone": "UTC"}, "maintenance": [
        {"site": "moc-home", "start": "1970-01-02T01:00", "end": "1970-01-02T02:00", "reason": "upgrade"}]}
    conn = connect(str(tmp_path / "govwatch.db"))
    day = 86400
    outage = (day, day + 7200)  # 1970-01-02 00:00-02:00
    gap = (10 * day, 10 * day + 5 * 3600)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO site_probes(site, ts, up, duration) VALUES ('moc-home', ?, ?, 0.5)",
                     [(t, int(not outage[0] <= t < outage[1])) for t in range(0, 30 * day, 60)
                      if not gap[0] < t < gap[1]])
    conn.execute("INSERT INTO outages(site, start, ended, cause) VALUES ('moc-home', ?, ?, 'refused')", outage)
    conn.execute("COMMIT")
    acc = account_site(conn, cfg, SITE, 0, 30 * day, now=40 * day)
    assert acc.gaps == [(gap[0] + 60, gap[1])]
    assert acc.downtime == 3600
    assert acc.monitored == 30 * day - 3600 - (5 * 3600 - 60)
    assert acc.availability == pytest.approx(100 * (1 - 3600 / acc.monitored))
    assert acc.longest == 3600 and acc.mttr == 3600
    assert acc.response_p50 == 0.5
    conn.close()


def test_site_without_probes_has_no_availability(tmp_path):
    conn = connect(str(tmp_path / "govwatch.db"))
    acc = account_site(conn, {}, SITE, 0, 86400, now=10 * 86400)
    assert acc.availability is None and acc.observed is None
    conn.close()
