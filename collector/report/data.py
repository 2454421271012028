"""Gather one month of the store into the figures of the managers' report (no formatting here)."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from govwatch.collector.config import db_path
from govwatch.collector.uptime import SiteAccount, account_site, connect, month_bounds, split_account
from govwatch.errors import GovwatchError

MAX_LISTED = 200  # rows of the incident lists before "... and N more"


@dataclass
class MinistrySummary:
    """A ministry's sites added up, time-weighted."""

    name: str
    sites: int = 0
    monitored: float = 0.0
    downtime: float = 0.0
    outages: int = 0

    @property
    def availability(self) -> float | None:
        return None if self.monitored <= 0 else 100.0 * (1.0 - self.downtime / self.monitored)


@dataclass
class Report:
    """Everything the report shows, in unix seconds and raw numbers."""

    month: str
    year: int
    mon: int
    start: float
    end: float
    tz: str
    target: float
    organisation: str
    generated: float
    sites: dict[str, dict[str, Any]]
    accounts: list[SiteAccount] = field(default_factory=list)
    ministries: list[MinistrySummary] = field(default_factory=list)
    daily: list[tuple[float, float | None]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    event_counts: dict[str, int] = field(default_factory=dict)

    @property
    def has_data(self) -> bool:
        return any(a.observed for a in self.accounts)


def open_store(cfg: dict[str, Any]) -> sqlite3.Connection:
    """The store read-only (a report never writes); an empty in-memory store if none exists yet."""
    path = db_path(cfg)
    if not os.path.exists(path):
        return connect(":memory:")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("SELECT 1 FROM site_probes LIMIT 1")
    except sqlite3.Error as exc:
        raise GovwatchError(f"{path}: cannot read the govwatch store: {exc}") from None
    return conn


def _report_sites(conn: sqlite3.Connection, cfg: dict[str, Any], start: float, end: float) -> dict[str, dict]:
    """Configured sites, plus sites removed since but probed during the month (their history still counts)."""
    sites = {s["name"]: s for s in cfg.get("sites", [])}
    for row in conn.execute("SELECT DISTINCT site FROM site_probes WHERE ts>=? AND ts<?", (start, end)):
        sites.setdefault(row[0], {"name": row[0], "ministry": "", "interval": 60.0, "confirm_failures": 3})
    return sites


def _ministries(accounts: list[SiteAccount]) -> list[MinistrySummary]:
    found: dict[str, MinistrySummary] = {}
    for acc in accounts:
        summary = found.setdefault(acc.ministry or "–", MinistrySummary(acc.ministry or "–"))
        summary.sites += 1
        summary.monitored += acc.monitored
        summary.downtime += acc.downtime
        summary.outages += len(acc.counted_outages)
    return sorted(found.values(), key=lambda m: (m.availability is None, m.availability or 0.0, m.name))


def _daily(accounts: list[SiteAccount], start: float, end: float, tz: str) -> list[tuple[float, float | None]]:
    days, day = [], datetime.fromtimestamp(start, ZoneInfo(tz))
    while day.timestamp() < end:
        following = (day + timedelta(days=1)).replace(hour=0, minute=0, second=0)
        monitored = downtime = 0.0
        for acc in accounts:
            m, d = split_account(acc, day.timestamp(), following.timestamp())
            monitored, downtime = monitored + m, downtime + d
        days.append((day.timestamp(), None if monitored <= 0 else 100.0 * (1 - downtime / monitored)))
        day = following
    return days


def _security(conn: sqlite3.Connection, start: float, end: float) -> tuple[list[dict], dict[str, int]]:
    incidents = [dict(r) for r in conn.execute(
        "SELECT id, kind, site, agent, severity, status, title, opened, resolved FROM incidents "
        "WHERE opened>=? AND opened<? ORDER BY opened", (start, end))]
    counts = {r[0]: r[1] for r in conn.execute(
        "SELECT kind, COUNT(*) FROM events WHERE ts>=? AND ts<? AND kind IN ('defacement','fim','traffic') "
        "GROUP BY kind", (start, end))}
    return incidents, counts


def _worst_first(acc: SiteAccount) -> tuple:
    return (acc.availability is None, acc.availability if acc.availability is not None else 0.0,
            -acc.downtime, acc.site)


def build_report(cfg: dict[str, Any], month: str, now: float | None = None) -> Report:
    """Account every site over the calendar month `YYYY-MM` in the report time zone."""
    settings = cfg.get("report", {})
    tz = settings.get("timezone", "Asia/Phnom_Penh")
    start, end = month_bounds(month, tz)
    now = time.time() if now is None else now
    report = Report(month=month, year=int(month[:4]), mon=int(month[5:]), start=start, end=end, tz=tz,
                    target=float(settings.get("target", 99.5)), generated=now,
                    organisation=settings.get("organisation", ""), sites={})
    conn = open_store(cfg)
    try:
        report.sites = _report_sites(conn, cfg, start, end)
        report.accounts = sorted((account_site(conn, cfg, site, start, end, now) for site in report.sites.values()),
                                 key=_worst_first)
        report.incidents, report.event_counts = _security(conn, start, end)
    finally:
        conn.close()
    report.ministries = _ministries(report.accounts)
    report.daily = _daily(report.accounts, start, end, tz)
    return report


def csv_rows(report: Report) -> list[dict[str, Any]]:
    """One row per site, raw numbers (seconds, percent) for spreadsheets."""
    rows = []
    for acc in report.accounts:
        days_left = None if acc.cert_expiry is None else round((acc.cert_expiry - min(report.end, report.generated))
                                                               / 86400, 1)
        rows.append({
            "month": report.month, "ministry": acc.ministry, "site": acc.site,
            "availability_percent": None if acc.availability is None else round(acc.availability, 4),
            "target_percent": report.target, "downtime_seconds": round(acc.downtime),
            "outages": len(acc.counted_outages), "longest_outage_seconds": round(acc.longest),
            "mttr_seconds": None if acc.mttr is None else round(acc.mttr),
            "response_median_seconds": _round(acc.response_p50), "response_p95_seconds": _round(acc.response_p95),
            "cert_days_left": days_left, "maintenance_seconds": round(acc.maintenance_seconds),
            "data_gap_seconds": round(acc.gap_seconds), "monitored_seconds": round(acc.monitored),
            "probes": acc.probes,
        })
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
