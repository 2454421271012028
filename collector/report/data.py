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
from govwatch.collector.pg import is_dsn
from govwatch.collector.report.integrity import tampered_intervals
from govwatch.collector.storedb import PooledReader
from govwatch.collector.uptime import (
    Interval,
    SiteAccount,
    account_site,
    clip,
    connect,
    merge,
    month_bounds,
    split_account,
    subtract,
    total,
)
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
    tampered: float = 0.0
    not_intact: float = 0.0  # down or defaced/tampered (each second once)

    @property
    def availability(self) -> float | None:
        return None if self.monitored <= 0 else 100.0 * (1.0 - self.downtime / self.monitored)

    @property
    def intact(self) -> float | None:
        return None if self.monitored <= 0 else 100.0 * (1.0 - self.not_intact / self.monitored)


@dataclass
class Integrity:
    """A site's time defaced or tampered (from the incidents) and its headline figure."""

    tampered: list[Interval] = field(default_factory=list)  # within the measured time
    not_intact: list[Interval] = field(default_factory=list)  # down or tampered, merged
    monitored: float = 0.0

    @property
    def tampered_seconds(self) -> float:
        return total(self.tampered)

    @property
    def not_intact_seconds(self) -> float:
        return total(self.not_intact)

    @property
    def intact(self) -> float | None:
        """Percent of the measured time the site was both up and showing its own, unaltered content."""
        return None if self.monitored <= 0 else 100.0 * (1.0 - self.not_intact_seconds / self.monitored)


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
    integrity: dict[str, Integrity] = field(default_factory=dict)
    daily: list[tuple[float, float | None, bool]] = field(default_factory=list)  # day, percent, in the future
    incidents: list[dict[str, Any]] = field(default_factory=list)
    event_counts: dict[str, int] = field(default_factory=dict)
    console_url: str = ""   # collector.yml console_url: incidents and screenshots become links

    @property
    def has_data(self) -> bool:
        return any(a.observed for a in self.accounts)

    @property
    def in_progress(self) -> bool:
        """The month has not ended when the report was made: figures stop at `generated`."""
        return self.start <= self.generated < self.end


def open_store(cfg: dict[str, Any]) -> Any:
    """The store read-only (a report never writes); an empty in-memory store if none exists yet."""
    path = db_path(cfg)
    if is_dsn(path):
        return PooledReader(path, 1, wait=30.0)  # StoreUnavailable (one line) at the first read if unreachable
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


def _ministries(accounts: list[SiteAccount], integrity: dict[str, Integrity]) -> list[MinistrySummary]:
    found: dict[str, MinistrySummary] = {}
    for acc in accounts:
        summary = found.setdefault(acc.ministry or "–", MinistrySummary(acc.ministry or "–"))
        summary.sites += 1
        summary.monitored += acc.monitored
        summary.downtime += acc.downtime
        summary.outages += len(acc.counted_outages)
        summary.tampered += integrity[acc.site].tampered_seconds
        summary.not_intact += integrity[acc.site].not_intact_seconds
    return sorted(found.values(), key=lambda m: (m.intact is None, m.intact or 0.0, m.name))


def _integrity(acc: SiteAccount, incidents: list[dict[str, Any]], cfg: dict[str, Any], stop: float) -> Integrity:
    """Defaced/tampered time counts only inside the measured time (maintenance and gaps stay excluded)."""
    if acc.observed is None:
        return Integrity()
    site = next((s for s in cfg.get("sites", []) if s.get("name") == acc.site), {"name": acc.site})
    measured = subtract([acc.observed], acc.excluded)
    tampered = subtract(clip(tampered_intervals(incidents, site, stop), *acc.observed), acc.excluded)
    not_intact = merge([*acc.down, *tampered])
    return Integrity(tampered=tampered, not_intact=not_intact, monitored=total(measured))


def _daily(report: Report) -> list[tuple[float, float | None, bool]]:
    """Per day of the month: percent available and intact over all sites (None without data), and
    whether the day lies after the report was made."""
    days, day = [], datetime.fromtimestamp(report.start, ZoneInfo(report.tz))
    while day.timestamp() < report.end:
        following = (day + timedelta(days=1)).replace(hour=0, minute=0, second=0)
        start, end = day.timestamp(), following.timestamp()
        monitored = bad = 0.0
        for acc in report.accounts:
            monitored += split_account(acc, start, end)[0]
            bad += total(clip(report.integrity[acc.site].not_intact, start, end))
        value = None if monitored <= 0 else 100.0 * (1 - bad / monitored)
        days.append((start, value, start >= report.generated))
        day = following
    return days


def _security(conn: sqlite3.Connection, start: float, end: float) -> tuple[list[dict], dict[str, int]]:
    incidents = [dict(r) for r in conn.execute(
        "SELECT id, key, kind, site, agent, severity, status, title, opened, resolved, evidence FROM incidents "
        "WHERE opened<? AND COALESCE(resolved, ?)>=? ORDER BY opened", (end, end, start))]
    counts = {r[0]: r[1] for r in conn.execute(
        "SELECT kind, COUNT(*) FROM events WHERE ts>=? AND ts<? AND kind IN ('defacement','fim','traffic') "
        "GROUP BY kind", (start, end))}
    return incidents, counts


def _worst_first(acc: SiteAccount, intact: float | None = None) -> tuple:
    """Worst headline figure first (available and intact once known, else availability)."""
    figure = intact if intact is not None else acc.availability
    return (figure is None, figure if figure is not None else 0.0, -acc.downtime, acc.site)


def build_report(cfg: dict[str, Any], month: str, now: float | None = None) -> Report:
    """Account every site over the calendar month `YYYY-MM` in the report time zone."""
    tz = cfg.get("report", {}).get("timezone", "Asia/Phnom_Penh")
    start, end = month_bounds(month, tz)
    now = time.time() if now is None else now
    if start > now:
        raise GovwatchError(f"--month {month}: that month has not started yet (a report covers past or current months)")
    return build_period(cfg, start, end, now, month)


def build_period(cfg: dict[str, Any], start: float, end: float, now: float, month: str = "") -> Report:
    """Account every site over [start, end) (a month for the report, a week for the digest)."""
    settings = cfg.get("report", {})
    tz = settings.get("timezone", "Asia/Phnom_Penh")
    year, mon = (int(month[:4]), int(month[5:])) if month else (0, 0)
    report = Report(month=month, year=year, mon=mon, start=start, end=end, tz=tz,
                    target=float(settings.get("target", 99.5)), generated=now,
                    organisation=settings.get("organisation", ""), sites={},
                    console_url=(cfg.get("console_url") or "").rstrip("/"))
    conn = open_store(cfg)
    try:
        report.sites = _report_sites(conn, cfg, start, end)
        report.accounts = sorted((account_site(conn, cfg, site, start, end, now) for site in report.sites.values()),
                                 key=_worst_first)
        report.incidents, report.event_counts = _security(conn, start, end)
    finally:
        conn.close()
    report.integrity = {acc.site: _integrity(acc, report.incidents, cfg, min(end, now)) for acc in report.accounts}
    report.accounts.sort(key=lambda acc: _worst_first(acc, report.integrity[acc.site].intact))
    report.ministries = _ministries(report.accounts, report.integrity)
    report.daily = _daily(report)
    return report


def csv_rows(report: Report) -> list[dict[str, Any]]:
    """One row per site, raw numbers (seconds, percent) for spreadsheets."""
    rows = []
    for acc in report.accounts:
        days_left = None if acc.cert_expiry is None else round((acc.cert_expiry - min(report.end, report.generated))
                                                               / 86400, 1)
        rows.append({
            "month": report.month, "ministry": acc.ministry, "site": acc.site,
            "available_intact_percent": _round4(report.integrity[acc.site].intact),
            "availability_percent": _round4(acc.availability),
            "defaced_or_tampered_seconds": round(report.integrity[acc.site].tampered_seconds),
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


def _round4(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
