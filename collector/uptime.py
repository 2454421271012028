"""Uptime accounting: probe history, confirmed outages, maintenance windows and monthly availability.

Rules (printed with every report): a site is down once `confirm_failures` consecutive probes fail; the
outage starts at the first failed probe of that run and ends at the first successful probe. Time inside a
maintenance window is excluded. A stretch longer than 3 probe intervals without any probe is a data gap:
neither up nor down, excluded and shown separately. Months are calendar months in the report time zone.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from govwatch.collector.counters import Counts, add_counters, bump
from govwatch.collector.migrations import schema_script
from govwatch.errors import ConfigError, GovwatchError

log = logging.getLogger(__name__)

GAP_FACTOR = 3.0
Interval = tuple[float, float]


def connect(db_path: str) -> Any:
    """A reader on the store at `db_path` (a SQLite file or a postgresql:// DSN), schema installed;
    `:memory:` is an empty SQLite store (a report before anything was probed)."""
    from govwatch.collector.store import Store

    if db_path == ":memory:":
        conn = sqlite3.connect(db_path, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        for statement in schema_script():
            conn.execute(statement)
        return conn
    return Store(db_path).reader()


class UptimeTracker:
    """Store each probe, keep site_state current and open/close confirmed outages."""

    def __init__(self, store: Any, clock: Callable[[], float] = time.time) -> None:
        """`store` is the collector's Store, or a SQLite path / DSN to open one for this tracker alone."""
        from govwatch.collector.store import Store

        self.clock = clock
        self._owned = isinstance(store, str)
        self.store = Store(store) if isinstance(store, str) else store
        # When set (vantage.py), reaching confirm_failures only proposes an outage ({"pending": True, ...});
        # it opens when confirm_down() is called after a second vantage agreed (or none was available).
        self.deferred = False

    @property
    def _conn(self) -> Any:
        return self.store.reader()

    def close(self) -> None:
        if self._owned:
            self.store.close()

    def record(self, site: dict[str, Any], result: Any) -> dict[str, Any] | None:
        """Store one probe; return {"site", "up", "since", "cause"} when the confirmed state changed."""
        with self.store.transaction() as conn:
            change = self._record(conn, site, result)
        if change:
            log.info("site %s is %s since %s", change["site"], "up" if change["up"] else "down", change["since"])
        return change

    def _record(self, conn: Any, site: dict[str, Any], r: Any) -> dict[str, Any] | None:
        name, ts = site["name"], float(r.ts)
        cert = getattr(r, "cert", None)
        conn.execute("INSERT INTO site_probes(site, ts, up, status, duration, error, ip, cert_expiry, phases) "
                     "VALUES (?,?,?,?,?,?,?,?,?)",
                     (name, ts, int(r.up), r.status, r.duration, r.error, r.ip,
                      cert.not_after if cert else None, json.dumps(r.phases, sort_keys=True)))
        prev = conn.execute("SELECT up, since, failures, ip FROM site_state WHERE site=?", (name,)).fetchone()
        failures = 0 if r.up else (prev["failures"] + 1 if prev else 1)
        up, since = (bool(prev["up"]), prev["since"]) if prev else (True, ts)
        change = None
        if r.up and not up:
            conn.execute("UPDATE outages SET ended=? WHERE site=? AND ended IS NULL", (ts, name))
            up, since = True, ts
            change = {"site": name, "up": True, "since": ts, "cause": None}
        elif not r.up and up and failures >= int(site.get("confirm_failures", 3)) and self.deferred:
            change = {"site": name, "up": False, "since": self._first_failure(conn, name, ts), "cause": r.error,
                      "pending": True}
        elif not r.up and up and failures >= int(site.get("confirm_failures", 3)):
            since = self._first_failure(conn, name, ts)
            conn.execute("INSERT INTO outages(site, start, ended, cause) VALUES (?,?,NULL,?)",
                         (name, since, r.error or ""))
            up = False
            change = {"site": name, "up": False, "since": since, "cause": r.error}
        if prev and prev["ip"] and r.ip and prev["ip"] != r.ip:
            log.warning("site %s moved from %s to %s", name, prev["ip"], r.ip)
            counts: Counts = {}
            bump(counts, "govwatch_site_ip_changes_total", site=name)
            add_counters(conn, counts)
        conn.execute(
            "INSERT INTO site_state(site, up, since, last_probe, failures, duration, status, error, ip, "
            "cert_expiry, cert_valid, cert_error, https_redirect) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(site) DO UPDATE SET up=excluded.up, since=excluded.since, last_probe=excluded.last_probe, "
            "failures=excluded.failures, duration=excluded.duration, status=excluded.status, error=excluded.error, "
            "ip=excluded.ip, cert_expiry=excluded.cert_expiry, cert_valid=excluded.cert_valid, "
            "cert_error=excluded.cert_error, https_redirect=excluded.https_redirect",
            (name, int(up), since, ts, failures, r.duration, r.status, r.error, r.ip or (prev["ip"] if prev else None),
             cert.not_after if cert else None, (int(cert.valid) if cert else None), cert.error if cert else None,
             None if r.https_redirect is None else int(r.https_redirect)))
        return change

    def confirm_down(self, site: dict[str, Any], since: float, cause: str | None) -> dict[str, Any] | None:
        """Open the proposed outage if the site is still failing (a good probe meanwhile cancels it)."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT up, failures FROM site_state WHERE site=?", (site["name"],)).fetchone()
            still = row is not None and row["up"] == 1 and row["failures"] >= int(site.get("confirm_failures", 3))
            if still:
                conn.execute("INSERT INTO outages(site, start, ended, cause) VALUES (?,?,NULL,?)",
                             (site["name"], since, cause or ""))
                conn.execute("UPDATE site_state SET up=0, since=? WHERE site=?", (since, site["name"]))
        if not still:
            return None
        log.info("site %s is down since %s (confirmed)", site["name"], since)
        return {"site": site["name"], "up": False, "since": since, "cause": cause}

    def state(self, name: str) -> dict[str, Any] | None:
        """The site's current row of site_state (None before its first probe)."""
        row = self.store.reader().execute("SELECT * FROM site_state WHERE site=?", (name,)).fetchone()
        return dict(row) if row else None

    @staticmethod
    def _first_failure(conn: Any, name: str, now: float) -> float:
        row = conn.execute("SELECT MIN(ts) FROM site_probes WHERE site=? AND ts > COALESCE("
                           "(SELECT MAX(ts) FROM site_probes WHERE site=? AND up=1), -1)", (name, name)).fetchone()
        return float(row[0]) if row and row[0] is not None else now


# ---- time and maintenance windows --------------------------------------------------------------------------

def parse_time(text: Any, tz: str, where: str = "", file: str = "collector.yml") -> float:
    """ISO time to unix seconds; a time without offset is read in the report time zone."""
    value = text if isinstance(text, datetime) else None
    if value is None:
        try:
            value = datetime.fromisoformat(str(text).strip())
        except ValueError:
            raise ConfigError(file, where, f"not an ISO time (got {text!r}; use 2026-10-04T22:00+07:00)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.timestamp()


def month_bounds(month: str, tz: str) -> Interval:
    """[start, end) of a calendar month `YYYY-MM` in time zone `tz`."""
    try:
        year, mon = (int(part) for part in month.split("-"))
        if len(month) != 7 or not 1 <= mon <= 12 or not 1970 <= year <= 9998:
            raise ValueError
    except ValueError:
        raise GovwatchError(f"--month: expected YYYY-MM with month 01-12 (got {month!r})") from None
    zone = ZoneInfo(tz)
    start = datetime(year, mon, 1, tzinfo=zone)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=zone)
    return start.timestamp(), end.timestamp()


def refuse_future_month(month: str, tz: str, now: float | None = None) -> None:
    """A report for a month that has not started yet would be all gaps: refuse it with the month to use."""
    start, _end = month_bounds(month, tz)
    now = time.time() if now is None else now
    if start > now:
        current = datetime.fromtimestamp(now, ZoneInfo(tz)).strftime("%Y-%m")
        raise GovwatchError(f"--month {month} has not started yet (this month is {current}); pick a past month")


@dataclass(frozen=True)
class Window:
    """A maintenance window that applies to a site."""

    start: float
    end: float
    reason: str
    scope: str  # the site, "ministry X" or "all sites"


def _applies(window: dict[str, Any], site: dict[str, Any]) -> bool:
    if window.get("site"):
        return window["site"] == site["name"]
    if window.get("ministry"):
        return window["ministry"] == site.get("ministry", "")
    return True


def _scope(window: dict[str, Any]) -> str:
    return window.get("site") or (f"ministry {window['ministry']}" if window.get("ministry") else "all sites")


def maintenance_windows(cfg: dict[str, Any], site: dict[str, Any], start: float = float("-inf"),
                        end: float = float("inf")) -> list[Window]:
    """The windows of collector.yml that cover this site and overlap [start, end)."""
    tz = cfg.get("report", {}).get("timezone", "Asia/Phnom_Penh")
    file = cfg.get("config_file", "collector.yml")
    found = []
    for index, window in enumerate(cfg.get("maintenance", [])):
        if not _applies(window, site):
            continue
        w_start = parse_time(window["start"], tz, f"maintenance[{index}].start", file)
        w_end = parse_time(window["end"], tz, f"maintenance[{index}].end", file)
        if w_end <= w_start:
            raise ConfigError(file, f"maintenance[{index}].end", "must be after start")
        if w_start < end and w_end > start:
            found.append(Window(w_start, w_end, window.get("reason") or "planned maintenance", _scope(window)))
    return found


def maintenance_active(cfg: dict[str, Any], site: dict[str, Any], now: float) -> bool:
    """True while a maintenance window covers the site (alerts are inhibited, downtime excluded)."""
    return any(w.start <= now < w.end for w in maintenance_windows(cfg, site, now, now + 1e-6))


# ---- interval arithmetic -----------------------------------------------------------------------------------

def merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def clip(intervals: Iterable[Interval], start: float, end: float) -> list[Interval]:
    return merge((max(a, start), min(b, end)) for a, b in intervals)


def subtract(intervals: Iterable[Interval], holes: Iterable[Interval]) -> list[Interval]:
    out, holes = [], merge(holes)
    for start, end in merge(intervals):
        cursor = start
        for h_start, h_end in holes:
            if h_end <= cursor or h_start >= end:
                continue
            if h_start > cursor:
                out.append((cursor, h_start))
            cursor = max(cursor, h_end)
        if cursor < end:
            out.append((cursor, end))
    return out


def total(intervals: Iterable[Interval]) -> float:
    return sum(end - start for start, end in merge(intervals))


# ---- monthly accounting ------------------------------------------------------------------------------------

@dataclass
class Outage:
    """A confirmed outage as it touches the period; `counted` is its downtime outside maintenance and gaps."""

    start: float
    end: float | None
    cause: str
    counted: float = 0.0


@dataclass
class SiteAccount:
    """One site's month: what the managers' report prints."""

    site: str
    ministry: str
    start: float
    end: float
    observed: Interval | None = None  # from the first probe (or month start) to the last moment known
    maintenance: list[Window] = field(default_factory=list)
    gaps: list[Interval] = field(default_factory=list)
    excluded: list[Interval] = field(default_factory=list)  # maintenance and gaps, merged
    down: list[Interval] = field(default_factory=list)  # counted downtime
    monitored: float = 0.0  # seconds counted: observed minus maintenance and gaps
    downtime: float = 0.0
    outages: list[Outage] = field(default_factory=list)
    probes: int = 0
    response_p50: float | None = None
    response_p95: float | None = None
    cert_expiry: float | None = None

    @property
    def availability(self) -> float | None:
        """Percent of monitored time up; None when nothing was monitored."""
        return None if self.monitored <= 0 else 100.0 * (1.0 - self.downtime / self.monitored)

    @property
    def gap_seconds(self) -> float:
        return total(self.gaps)

    @property
    def maintenance_seconds(self) -> float:
        return total(clip(((w.start, w.end) for w in self.maintenance), *(self.observed or (0.0, 0.0))))

    @property
    def counted_outages(self) -> list[Outage]:
        return [o for o in self.outages if o.counted > 0]

    @property
    def longest(self) -> float:
        return max((o.counted for o in self.counted_outages), default=0.0)

    @property
    def mttr(self) -> float | None:
        """Mean time to restore, over the outages that ended."""
        ended = [o.counted for o in self.counted_outages if o.end is not None]
        return statistics.fmean(ended) if ended else None


def split_account(acc: SiteAccount, start: float, end: float) -> tuple[float, float]:
    """(monitored, downtime) seconds of an account within [start, end), e.g. one day of the month."""
    if acc.observed is None:
        return 0.0, 0.0
    monitored = total(subtract(clip([acc.observed], start, end), acc.excluded))
    return monitored, total(clip(acc.down, start, end))


def find_gaps(times: list[float], interval: float, start: float, end: float) -> list[Interval]:
    """Stretches of [start, end) longer than GAP_FACTOR intervals without a probe (`times` sorted)."""
    gaps, limit = [], GAP_FACTOR * interval
    points = [t for t in times if t < end]
    for before, after in zip(points, points[1:], strict=False):
        if after - before > limit:
            gaps.append((before + interval, after))
    if points and end - points[-1] > limit:
        gaps.append((points[-1] + interval, end))
    return clip(gaps, start, end)


def account_site(conn: Any, cfg: dict[str, Any], site: dict[str, Any], start: float, end: float,
                 now: float) -> SiteAccount:
    """Availability of one site over [start, end), maintenance and data gaps excluded."""
    name, interval = site["name"], float(site.get("interval", 60.0))
    acc = SiteAccount(site=name, ministry=site.get("ministry", ""), start=start, end=end)
    acc.maintenance = maintenance_windows(cfg, site, start, end)
    first = conn.execute("SELECT MIN(ts) FROM site_probes WHERE site=?", (name,)).fetchone()[0]
    stop = min(end, now)
    if first is None or first >= stop:
        return acc
    acc.observed = (max(start, first), stop)
    before = conn.execute("SELECT MAX(ts) FROM site_probes WHERE site=? AND ts<?", (name, start)).fetchone()[0]
    rows = conn.execute("SELECT ts, up, duration, cert_expiry FROM site_probes WHERE site=? AND ts>=? AND ts<? "
                        "ORDER BY ts", (name, start, stop)).fetchall()
    times = ([before] if before is not None else []) + [r["ts"] for r in rows]
    acc.gaps = find_gaps(times, interval, *acc.observed)
    excluded = acc.excluded = merge([(w.start, w.end) for w in acc.maintenance] + acc.gaps)
    acc.monitored = total(subtract([acc.observed], excluded))
    _add_outages(conn, acc, excluded, stop)
    acc.down = subtract(clip(((o.start, o.end or stop) for o in acc.outages), *acc.observed), excluded)
    acc.downtime = total(acc.down)
    _add_probe_figures(acc, rows)
    return acc


def _add_outages(conn: Any, acc: SiteAccount, excluded: list[Interval], stop: float) -> None:
    for row in conn.execute("SELECT start, ended, cause FROM outages WHERE site=? AND start<? AND "
                            "COALESCE(ended, ?)>? ORDER BY start", (acc.site, stop, stop, acc.start)):
        outage = Outage(row["start"], row["ended"], row["cause"] or "")
        span = clip([(outage.start, outage.end or stop)], *acc.observed)  # type: ignore[misc]
        outage.counted = total(subtract(span, excluded))
        acc.outages.append(outage)


def _add_probe_figures(acc: SiteAccount, rows: list[Any]) -> None:
    acc.probes = len(rows)
    durations = sorted(r["duration"] for r in rows if r["up"] and r["duration"] is not None)
    if durations:
        acc.response_p50 = statistics.median(durations)
        acc.response_p95 = durations[min(len(durations) - 1, int(round(0.95 * (len(durations) - 1))))]
    expiries = [r["cert_expiry"] for r in rows if r["cert_expiry"] is not None]
    acc.cert_expiry = expiries[-1] if expiries else None
