"""Sites shared among collectors on one store by lease: each site is probed by exactly one live collector.

Every `lease / 3` seconds a collector, in one transaction: announces itself (probe_collectors: name,
vantage, expires), renews the leases it holds, gives back any above its fair share (sites / live
collectors, rounded up) and claims free or expired ones up to that share. A collector that dies stops
renewing: its leases expire within `lease` and the others claim them on their next round, so a dead
collector's sites are probed again within 4/3 x lease (60 s with the default 45 s lease, one default
interval). Claims prefer sites by rendezvous hashing (site, collector), so the split is stable across
rounds and two collectors starting together do not fight over the same sites. With one collector (the
default) it holds every site.

Portable SQL (SQLite and PostgreSQL): upserts with ON CONFLICT, no scalar MAX, times as REAL.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Peer:
    """A live collector sharing the store."""

    name: str
    vantage: str


def _rank(site: str, holder: str) -> bytes:
    """Rendezvous score: each collector prefers its own stable subset of the sites."""
    return hashlib.sha256(f"{site}\0{holder}".encode()).digest()


class Leases:
    """This collector's leases on the sites of its collector.yml."""

    def __init__(self, store: Any, name: str, vantage: str, sites: list[str], ttl: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.name, self.vantage = store, name, vantage
        self.sites, self.ttl, self.clock = sorted(set(sites)), ttl, clock
        self.held: set[str] = set()

    def tick(self) -> set[str]:
        """One round: announce, renew, give back above the fair share, claim up to it; the sites held now."""
        now = self.clock()
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO probe_collectors(name, vantage, seen, expires) VALUES (?,?,?,?) "
                         "ON CONFLICT(name) DO UPDATE SET vantage=excluded.vantage, seen=excluded.seen, "
                         "expires=excluded.expires", (self.name, self.vantage, now, now + self.ttl))
            live = int(conn.execute("SELECT COUNT(*) FROM probe_collectors WHERE expires > ?", (now,)).fetchone()[0])
            share = math.ceil(len(self.sites) / max(1, live))
            conn.execute("UPDATE probe_leases SET expires=? WHERE holder=? AND expires > ?",
                         (now + self.ttl, self.name, now))
            leased = {r[0]: (r[1], float(r[2])) for r in conn.execute("SELECT site, holder, expires FROM probe_leases")}
            mine = [s for s, (h, e) in leased.items() if h == self.name and e > now]
            held = sorted((s for s in mine if s in self.sites), key=self._rank, reverse=True)
            for site in [s for s in mine if s not in self.sites] + held[share:]:
                conn.execute("UPDATE probe_leases SET expires=? WHERE site=? AND holder=?", (now, site, self.name))
            for site in self._claims(leased, min(len(held), share), share, now):
                conn.execute("INSERT INTO probe_leases(site, holder, expires) VALUES (?,?,?) ON CONFLICT(site) "
                             "DO UPDATE SET holder=excluded.holder, expires=excluded.expires "
                             "WHERE probe_leases.expires <= ?", (site, self.name, now + self.ttl, now))
            rows = conn.execute("SELECT site FROM probe_leases WHERE holder=? AND expires > ?",
                                (self.name, now)).fetchall()
        held_now = {r[0] for r in rows} & set(self.sites)
        if held_now != self.held:
            log.info("collector %s probes %d of %d sites (%d collectors live)", self.name, len(held_now),
                     len(self.sites), live)
        self.held = held_now
        return set(held_now)

    def _rank(self, site: str) -> bytes:
        return _rank(site, self.name)

    def _claims(self, leased: dict[str, tuple[str, float]], holding: int, share: int, now: float) -> list[str]:
        """Free sites to claim: up to the fair share, plus any left free for a third of a lease (collectors
        with other site lists, or a newcomer that never came), so no configured site goes unprobed."""
        free = sorted((s for s in self.sites if s not in leased or leased[s][1] <= now), key=self._rank,
                      reverse=True)
        wanted = free[:max(0, share - holding)]
        stale = [s for s in free[len(wanted):] if s not in leased or leased[s][1] <= now - self.ttl / 3]
        return wanted + stale

    def peers(self) -> list[Peer]:
        """Other live collectors (any vantage)."""
        rows = self.store.query("SELECT name, vantage FROM probe_collectors WHERE expires > ? AND name != ? "
                                "ORDER BY name", (self.clock(), self.name))
        return [Peer(r[0], r[1]) for r in rows]

    def release(self) -> None:
        """A clean stop hands every site back at once instead of waiting for the leases to expire."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE probe_leases SET expires=? WHERE holder=? AND expires > ?",
                         (self.clock(), self.name, self.clock()))
            conn.execute("DELETE FROM probe_collectors WHERE name=?", (self.name,))
        self.held = set()
