"""The outside view: what citizens see of every site in collector.yml.

Each probe result is recorded for uptime (UptimeTracker) and, when the page loaded, judged by the same
defacement detector the agents run. The collector's verdict is one more view of the site
(source 'collector'): `govwatch_defacement_detected{site}` is 1 while any view says defaced.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

from govwatch.collector import incidents
from govwatch.collector.config import collector_name
from govwatch.collector.counters import add_counters
from govwatch.collector.leases import Leases
from govwatch.collector.probepool import DEFAULT_LIMIT
from govwatch.collector.probes import Prober, ProbeResult
from govwatch.collector.store import Store
from govwatch.collector.uptime import UptimeTracker, maintenance_active
from govwatch.collector.vantage import Vantage

log = logging.getLogger("govwatch.collector.outside")


PHASES = ("resolve", "connect", "tls", "processing", "transfer")


def failed_phase(result: ProbeResult) -> str | None:
    """Where a failed probe stopped: the first phase it did not finish, or `status` for a bad HTTP answer."""
    if result.up:
        return None
    if result.status is not None:
        return "status"
    done = set(result.phases)
    return next((p for p in PHASES if p not in done and not (p == "tls" and not result.url.startswith("https"))),
                "transfer")


class OutsideView:
    """Owns the prober, the uptime tracker, this collector's leases and vantage, one defacement monitor per site."""

    def __init__(self, cfg: dict[str, Any], store: Store) -> None:
        self.cfg, self.store = cfg, store
        self.tracker = UptimeTracker(store)  # the collector's own store (SQLite or PostgreSQL)
        self.tracker.deferred = True     # outages open once a second vantage agreed (vantage.py)
        limit = cfg.get("limits", {}).get("probe_concurrency", DEFAULT_LIMIT)
        self.prober = Prober(cfg["sites"], self.tracker, on_result=self._observed, on_change=self.up_or_down,
                             workers=limit)
        name = cfg.get("name") or collector_name()
        self.lease_ttl = float(cfg.get("probing", {}).get("lease", 45.0))
        self.leases = Leases(store, name, cfg.get("vantage") or name, [s["name"] for s in cfg["sites"]],
                             self.lease_ttl)
        self.vantage = Vantage(cfg, store, self.tracker, self.leases, self._record_change)
        self.profile_dir = os.path.join(cfg["data_dir"], "profiles")
        self.monitors: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._pool: Any = None   # defacement judges in worker processes with a hard deadline (bounded.py)
        self._stop = threading.Event()
        self._keeper = threading.Thread(target=self._keep_leases, name="probe-leases", daemon=True)

    def start(self) -> None:
        if self.cfg["sites"]:
            self.prober.set_active(self.leases.tick())     # before the first round: never probe another's site
            self.prober.start()
            self._keeper.start()
            log.info("probing %d of %d sites from outside (collector %s, vantage %s)", len(self.leases.held),
                     len(self.cfg["sites"]), self.leases.name, self.leases.vantage)

    def stop(self) -> None:
        self._stop.set()
        if self._keeper.is_alive():
            self._keeper.join(10)
        self.prober.stop()
        self.vantage.close()
        if self.cfg["sites"]:
            try:
                self.leases.release()
            except Exception as exc:   # the store may be gone: the leases expire on their own
                log.warning("could not hand back probe leases: %s", exc)
        self.tracker.close()
        if self._pool is not None:
            self._pool.close()

    def _keep_leases(self) -> None:
        """Renew leases every third of the lease; answer and settle confirmations every second."""
        last_ok = next_tick = time.monotonic()
        next_tick += self.lease_ttl / 3
        while not self._stop.wait(1.0 if self.lease_ttl >= 3 else self.lease_ttl / 3):
            try:
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.lease_ttl / 3
                    self.prober.set_active(self.leases.tick())
                    last_ok = time.monotonic()
                self.vantage.poll()
            except Exception as exc:   # the store is unavailable: keep probing until our leases lapse
                log.warning("probe leases not renewed: %s", exc)
                if time.monotonic() - last_ok > self.lease_ttl:
                    self.prober.set_active(set())

    def _observed(self, site: dict[str, Any], result: ProbeResult) -> None:
        self.vantage.observed(site, result)
        self._judge(site, result)

    def maintenance_active(self, site: dict[str, Any], now: float) -> bool:
        return maintenance_active(self.cfg, site, now)

    def up_or_down(self, site: dict[str, Any], result: ProbeResult, change: dict[str, Any]) -> None:
        """A proposed outage goes to the vantage check (vantage.py); a confirmed one opens a site_down
        incident; recovery resolves it."""
        if change.get("pending"):
            self.vantage.suspect(site, result, change)
        else:
            self._record_change(site, result, change)

    def _record_change(self, site: dict[str, Any], result: ProbeResult, change: dict[str, Any]) -> None:
        now = time.time()
        probe = {"ts": result.ts, "url": result.url, "up": result.up, "phase": failed_phase(result),
                 "error": result.error, "status": result.status, "since": change["since"]}
        probe.update({k: change[k] for k in ("confirmed_by", "note") if k in change})
        severity = "low" if self.maintenance_active(site, now) else "high"
        counts: dict[tuple[str, str], float] = {}
        with self.store.transaction() as conn:
            incidents.record_site_down(conn, site["name"], not change["up"], probe, now, counts, severity)
            add_counters(conn, counts)

    # -- defacement ---------------------------------------------------------------------------------
    def _monitor(self, site: dict[str, Any]) -> Any:
        from govwatch.agents.defacement.bounded import Pool
        from govwatch.agents.defacement.monitor import SiteMonitor

        with self._lock:
            if self._pool is None:   # one worker per probe thread at most: a stalled page holds only its own
                self._pool = Pool(size=min(4, max(1, len(self.cfg["sites"]))))
            monitor = self.monitors.get(site["name"])
            if monitor is None:
                monitor = SiteMonitor(site["name"], site["url"], engine=self._pool)
                saved = self._load_profile(site["name"])
                if saved is not None:
                    try:
                        monitor = SiteMonitor.from_dict(saved, engine=self._pool)
                    except (KeyError, ValueError, TypeError) as exc:
                        log.warning("saved profile of %s unusable (%s); learning again", site["name"], exc)
                self.monitors[site["name"]] = monitor
            return monitor

    def _profile_path(self, name: str) -> str:
        return os.path.join(self.profile_dir, f"{name}.json")

    def _load_profile(self, name: str) -> dict[str, Any] | None:
        try:
            with open(self._profile_path(name), encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def _save_profile(self, name: str, monitor: Any) -> None:
        os.makedirs(self.profile_dir, exist_ok=True)
        tmp = self._profile_path(name) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(monitor.to_dict(), handle)
        os.replace(tmp, self._profile_path(name))

    def _judge(self, site: dict[str, Any], result: ProbeResult) -> None:
        if not site.get("defacement", True) or not result.up or not result.body:
            return
        if result.content_type and "html" not in result.content_type.lower():
            return
        monitor = self._monitor(site)
        html = result.body.decode("utf-8", errors="replace")
        change = monitor.observe(html, result.status or 0, result.ts, final_url=result.final_url,
                                 maintenance_window=self.maintenance_active(site, result.ts))
        self._save_profile(site["name"], monitor)
        if change is not None:
            self.record(site, change.to_event_data(site["name"], result.final_url or site["url"]), change.severity)

    def record(self, site: dict[str, Any], data: dict[str, Any], severity: str) -> None:
        """Store the collector's view of a site and open or extend the defacement incident."""
        now = time.time()
        counts: dict[tuple[str, str], float] = {}
        with self.store.transaction() as conn:
            incidents.record_defacement(conn, "collector", None, data, severity, now, now, counts,
                                        self.store.joining)
            add_counters(conn, counts)
        log.warning("site %s is %s as seen from outside (score %s)", site["name"], data.get("state"),
                    data.get("score"))

    def rebaseline(self, name: str, user: str) -> dict[str, Any] | None:
        """Accept the site's current page as its new baseline (a legitimate redesign)."""
        site = next((s for s in self.cfg["sites"] if s["name"] == name), None)
        known = self.store.query("SELECT 1 FROM defacement_state WHERE site=? LIMIT 1", (name,))
        if site is None and not known:
            return None
        if site is not None:
            monitor = self._monitor(site)
            monitor.rebaseline()
            self._save_profile(name, monitor)
        now = time.time()
        with self.store.transaction() as conn:
            conn.execute("UPDATE defacement_state SET defaced=0, since=?, reasons='[]' WHERE site=?", (now, name))
            conn.execute("INSERT INTO commands(agent, kind, arg, created) SELECT source, 'rebaseline', ?, ? "
                         "FROM defacement_state WHERE site=? AND source != 'collector'", (name, now, name))
        log.warning("site %s rebaselined by %s", name, user)
        return {"site": name, "rebaselined_by": user, "at": now}
