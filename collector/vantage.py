"""Two-vantage confirmation: a site is confirmed down only when two points of view agree.

A site's lease holder counts its own consecutive failures as before; when they reach `confirm_failures`
the tracker only proposes the outage. Then, in order:
1. another live collector in a different `vantage` (network) exists: ask it for one confirmation probe
   (probe_confirmations). Its answer "down" confirms; "up" means this vantage alone cannot reach the site:
   no outage, no site_down (its view is kept in site_vantage and the metric). No answer within
   probing.confirm_timeout: confirm alone, and say so in the evidence.
2. before opening the outage, the agent on the site's own server (the site's `web_root` agent; its
   defacement watcher reports each local fetch in its heartbeat) is asked: if it fetched the page fine
   after the outside failures began, the site is "up inside, down outside": a `site_unreachable` incident
   (network or DNS, not the server) instead of an outage.
3. no other vantage at all: today's behaviour, the collector's own consecutive failures confirm.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from govwatch.collector import incidents
from govwatch.collector.counters import add_counters
from govwatch.collector.leases import Leases
from govwatch.collector.probepool import ElasticPool
from govwatch.collector.probes import ProbeResult, probe_site

log = logging.getLogger(__name__)
INSIDE = "inside"


def _probe_view(result: ProbeResult) -> dict[str, Any]:
    return {"ts": result.ts, "url": result.url, "up": result.up, "status": result.status, "error": result.error}


class Vantage:
    """Decides proposed outages (see the module doc); answers other collectors' confirmation requests."""

    def __init__(self, cfg: dict[str, Any], store: Any, tracker: Any, leases: Leases,
                 on_down: Callable[[dict[str, Any], ProbeResult, dict[str, Any]], None],
                 probe: Callable[..., ProbeResult] = probe_site, clock: Callable[[], float] = time.time) -> None:
        self.store, self.tracker, self.leases, self.on_down, self.probe, self.clock = (
            store, tracker, leases, on_down, probe, clock)
        self.name, self.vantage = leases.name, leases.vantage
        self.sites = {s["name"]: s for s in cfg["sites"]}
        self.timeout = float(cfg.get("probing", {}).get("confirm_timeout", 30.0))
        self._lock = threading.Lock()
        self._failing: dict[str, tuple[ProbeResult, dict[str, Any]]] = {}
        self._own: dict[str, int] = {}          # last own view written to site_vantage
        self.unreachable = {r[0] for r in store.query(
            "SELECT site FROM incidents WHERE kind='site_unreachable' AND status != 'resolved'")}
        self.pool = ElasticPool(self._answer, limit=16, idle=10.0, name="probe-confirm")
        self._purged = 0.0

    def close(self) -> None:
        self.pool.close()

    # -- the lease holder's side ------------------------------------------------------------------
    def suspect(self, site: dict[str, Any], result: ProbeResult, change: dict[str, Any]) -> None:
        """Own failures reached confirm_failures: ask another vantage, or decide now when there is none."""
        name, now = site["name"], self.clock()
        with self._lock:
            self._failing[name] = (result, change)
        others = [p for p in self.leases.peers() if p.vantage != self.vantage]
        if not others:
            self._settle(site, None)
            return
        last = self.store.query("SELECT handled, up, answered FROM probe_confirmations WHERE site=? AND requester=? "
                                "ORDER BY id DESC LIMIT 1", (name, self.name))
        if last and not last[0][0]:
            return       # a request is out
        if last and last[0][1] == 1 and float(last[0][2] or 0) > now - float(site.get("interval", 60.0)):
            return       # another vantage saw it up a moment ago: ask again next interval
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO probe_confirmations(site, requester, vantage, requested, deadline) "
                         "VALUES (?,?,?,?,?)", (name, self.name, self.vantage, now, now + self.timeout))
        log.info("site %s fails from %s: asking another vantage (%s) to confirm", name, self.vantage,
                 ", ".join(sorted({p.vantage for p in others})))

    def poll(self) -> None:
        """Answer other collectors' requests; settle this collector's answered or expired ones."""
        now = self.clock()
        if now - self._purged > 3600:
            self._purge(now)
        for row in self.store.query("SELECT id, site FROM probe_confirmations WHERE answerer IS NULL AND "
                                    "vantage != ? AND deadline > ? AND handled = 0", (self.vantage, now)):
            if row[1] in self.sites and self._claim(int(row[0])):
                self.pool.submit((int(row[0]), self.sites[row[1]]))
        rows = self.store.query("SELECT id, site, answered, answer_vantage, answerer, up, error FROM "
                                "probe_confirmations WHERE requester=? AND handled=0 AND (answered IS NOT NULL "
                                "OR deadline <= ?)", (self.name, now))
        for row in rows:
            with self.store.transaction() as conn:
                if conn.execute("UPDATE probe_confirmations SET handled=1 WHERE id=? AND handled=0",
                                (row[0],)).rowcount != 1:
                    continue
            site = self.sites.get(row[1])
            if site is None:
                continue
            if row[2] is None:
                self._settle(site, {"vantage": None, "note": f"no other vantage answered within {self.timeout:g} s"})
            elif row[5] == 0:
                self._settle(site, {"vantage": row[3], "collector": row[4], "up": False, "error": row[6]})
            else:
                log.warning("site %s fails from %s but %s (%s) reaches it: not confirmed down", row[1], self.vantage,
                            row[3], row[4])

    def _settle(self, site: dict[str, Any], other: dict[str, Any] | None) -> None:
        """Still failing? Then ask the inside view, and open the outage or the site_unreachable finding."""
        name = site["name"]
        state = self.tracker.state(name)
        with self._lock:
            failing = self._failing.get(name)
        if failing is None or state is None or state["up"] != 1 or state["failures"] < int(
                site.get("confirm_failures", 3)):
            return       # recovered meanwhile, or already down
        result, change = failing
        inside = self.inside_view(site, float(change["since"]))
        if inside is not None and inside.get("stale"):
            if self.clock() - float(change["since"]) < self.timeout:
                return   # the agent has not fetched since the failures began: decide at the next failed probe
            inside = None
        if inside is not None and inside["up"]:
            self._unreachable(site, result, inside)
            return
        agreed = [self.vantage] + ([other["vantage"]] if other and other.get("vantage") else []) + (
            [INSIDE] if inside is not None else [])
        down = self.tracker.confirm_down(site, float(change["since"]), change.get("cause"))
        if down is not None:
            down["confirmed_by"] = agreed
            if other and other.get("note"):
                down["note"] = other["note"]
            self.on_down(site, result, down)

    def _unreachable(self, site: dict[str, Any], result: ProbeResult, inside: dict[str, Any]) -> None:
        view = {**inside, "outside": {**_probe_view(result), "vantage": self.vantage, "collector": self.name}}
        counts: dict[tuple[str, str], float] = {}
        with self.store.transaction() as conn:
            incidents.record_site_unreachable(conn, site["name"], True, view, self.clock(), counts)
            add_counters(conn, counts)
        with self._lock:
            new = site["name"] not in self.unreachable
            self.unreachable.add(site["name"])
        if new:
            log.warning("site %s is up on its server but fails from outside (%s): network or DNS", site["name"],
                        result.error)

    def observed(self, site: dict[str, Any], result: ProbeResult) -> None:
        """Every own probe: keep this vantage's view current and resolve a finding once outside works again."""
        name = site["name"]
        if self._own.get(name) != int(result.up):
            self._own[name] = int(result.up)
            self._write_view(name, self.vantage, self.name, result.up, result.ts, result.error)
        if result.up and name in self.unreachable:
            counts: dict[tuple[str, str], float] = {}
            with self.store.transaction() as conn:
                incidents.record_site_unreachable(conn, name, False, _probe_view(result), self.clock(), counts)
                add_counters(conn, counts)
            with self._lock:
                self.unreachable.discard(name)

    def _purge(self, now: float) -> None:
        """Settled requests and collectors gone for a day are history nobody reads: drop them."""
        self._purged = now
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM probe_confirmations WHERE handled=1 AND requested < ?", (now - 86400,))
            conn.execute("DELETE FROM probe_collectors WHERE expires < ?", (now - 86400,))

    # -- the inside view ------------------------------------------------------------------------------
    def inside_view(self, site: dict[str, Any], since: float) -> dict[str, Any] | None:
        """The site's agent's own fetch of the page after the outside failures began; {"stale": True} while
        its last fetch is older than that; None without a live agent reporting this site."""
        agent = (site.get("web_root") or "").partition(":")[0]
        if not agent:
            return None
        now = self.clock()
        rows = self.store.query("SELECT a.status, a.last_seen, c.skew FROM agents a LEFT JOIN agent_clock c ON "
                                "c.agent = a.name WHERE a.name=? AND a.revoked IS NULL", (agent,))
        if not rows or rows[0][1] is None or float(rows[0][1]) < now - max(120.0, 3 * float(site["interval"])):
            return None
        entry = _local_entry(rows[0][0], site)
        if entry is None:
            return None
        ts = entry["ts"] - float(rows[0][2] or 0.0)        # the agent's clock, moved onto the collector's
        if ts < since:
            return {"stale": True}
        self._write_view(site["name"], INSIDE, agent, entry["up"], ts, entry["error"])
        return {"ts": ts, "vantage": INSIDE, "agent": agent, "up": entry["up"], "status": entry["status"],
                "error": entry["error"]}

    # -- the answering side -------------------------------------------------------------------------
    def _claim(self, request: int) -> bool:
        with self.store.transaction() as conn:
            return conn.execute("UPDATE probe_confirmations SET answerer=? WHERE id=? AND answerer IS NULL",
                                (self.name, request)).rowcount == 1

    def _answer(self, job: tuple[int, dict[str, Any]]) -> None:
        request, site = job
        result = self.probe(site, float(site.get("timeout", 10.0)), clock=self.clock)
        with self.store.transaction() as conn:
            conn.execute("UPDATE probe_confirmations SET answered=?, answer_vantage=?, up=?, error=? WHERE id=?",
                         (self.clock(), self.vantage, int(result.up), result.error, request))
        self._write_view(site["name"], self.vantage, self.name, result.up, result.ts, result.error)
        log.info("confirmation probe of %s from %s: %s", site["name"], self.vantage,
                 "up" if result.up else result.error)

    def _write_view(self, site: str, vantage: str, collector: str, up: bool, ts: float, error: str | None) -> None:
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO site_vantage(site, vantage, collector, up, ts, error) VALUES (?,?,?,?,?,?) "
                         "ON CONFLICT(site, vantage) DO UPDATE SET collector=excluded.collector, up=excluded.up, "
                         "ts=excluded.ts, error=excluded.error", (site, vantage, collector, int(up), ts, error))


def _local_entry(status_json: Any, site: dict[str, Any]) -> dict[str, Any] | None:
    """The agent heartbeat's record of its last local fetch of this site (same site name in agent.yml), typed."""
    try:
        status = json.loads(status_json or "{}")
        local = status["stats"]["defacement"]["local"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(local, dict):
        return None
    entry = local.get(site["name"])
    if not isinstance(entry, dict):
        return None
    try:
        ts = float(entry["ts"])
    except (KeyError, TypeError, ValueError):
        return None
    status_code = entry.get("status")
    return {"ts": ts, "up": entry.get("up") is True,
            "status": status_code if isinstance(status_code, int) and not isinstance(status_code, bool) else None,
            "error": str(entry["error"])[:200] if entry.get("error") else None}
