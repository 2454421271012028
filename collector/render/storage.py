"""Screenshot evidence on disk, content-addressed (sha256 of the PNG), with retention and a size bound;
and the last render of each site in the store (what /metrics and the console read).

Not every render is kept: a site's known-good looks, the renders attached to incidents and the latest
render are (a few per site); everything else would be gigabytes a day. Pinned screenshots (known-good
or evidence of an incident) outlive retention; the size bound drops the oldest unpinned first.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import time
from typing import Any

from govwatch.collector.pg import database_error

TABLES = """
CREATE TABLE IF NOT EXISTS render_shots (
  sha TEXT PRIMARY KEY, site TEXT NOT NULL, ts REAL NOT NULL, bytes INTEGER NOT NULL, pinned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS render_shots_ts ON render_shots (pinned, ts);
CREATE TABLE IF NOT EXISTS render_state (
  site TEXT PRIMARY KEY, ts REAL NOT NULL, ok INTEGER NOT NULL, reason TEXT, duration REAL NOT NULL,
  visual_difference REAL, screenshot TEXT, final_url TEXT, error TEXT
)
"""
FAILURE_REASONS = ("timeout", "crash", "memory", "navigation", "refused", "browser")
SHA = re.compile(r"^[0-9a-f]{64}$")


def install_tables(store: Any) -> None:
    with store.transaction() as conn:
        for statement in filter(str.strip, TABLES.split(";")):
            conn.execute(statement)


class ShotStore:
    """PNG files under `root/ab/abcdef....png`, indexed in the collector's store."""

    def __init__(self, root: str, store: Any, retention: float = 30 * 86400.0, max_bytes: int = 512 * 2**20,
                 clock: Any = time.time) -> None:
        self.root, self.store, self.retention, self.max_bytes, self.clock = root, store, retention, max_bytes, clock
        install_tables(store)

    def path(self, sha: str) -> str | None:
        """Where a screenshot lives, or None for anything that is not a sha256 we stored."""
        if not SHA.match(sha or ""):
            return None
        path = os.path.join(self.root, sha[:2], sha + ".png")
        return path if os.path.isfile(path) else None

    def put(self, site: str, png: bytes, pinned: bool = False) -> str:
        """Store a screenshot once (same bytes, same name); return its sha256."""
        sha = hashlib.sha256(png).hexdigest()
        folder = os.path.join(self.root, sha[:2])
        target = os.path.join(folder, sha + ".png")
        if not os.path.exists(target):
            os.makedirs(folder, mode=0o750, exist_ok=True)
            tmp = f"{target}.{os.getpid()}.tmp"
            with open(tmp, "wb") as handle:
                handle.write(png)
            os.replace(tmp, target)
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO render_shots(sha, site, ts, bytes, pinned) VALUES (?,?,?,?,?) "
                         "ON CONFLICT(sha) DO UPDATE SET ts=excluded.ts, "
                         "pinned=CASE WHEN excluded.pinned > render_shots.pinned THEN excluded.pinned "
                         "ELSE render_shots.pinned END",
                         (sha, site, self.clock(), len(png), int(pinned)))
        return sha

    def pin(self, shas: list[str], pinned: bool = True) -> None:
        with self.store.transaction() as conn:
            conn.executemany("UPDATE render_shots SET pinned=? WHERE sha=?", [(int(pinned), s) for s in shas if s])

    def prune(self, keep: set[str] | None = None) -> int:
        """Drop unpinned screenshots past retention, then the oldest unpinned ones above the size bound."""
        keep = keep or set()
        rows = self.store.query("SELECT sha, ts, bytes, pinned FROM render_shots ORDER BY ts")
        total = sum(row["bytes"] for row in rows)
        cutoff = self.clock() - self.retention
        doomed = []
        for row in rows:
            if row["pinned"] or row["sha"] in keep:
                continue
            if row["ts"] < cutoff or total > self.max_bytes:
                doomed.append(row["sha"])
                total -= row["bytes"]
        for sha in doomed:
            try:
                os.unlink(os.path.join(self.root, sha[:2], sha + ".png"))
            except OSError:
                pass
        with self.store.transaction() as conn:
            conn.executemany("DELETE FROM render_shots WHERE sha=?", [(s,) for s in doomed])
        return len(doomed)

    def size(self) -> int:
        rows = self.store.query("SELECT COALESCE(SUM(bytes), 0) AS n FROM render_shots")
        return int(rows[0]["n"])


def record_state(conn: sqlite3.Connection, site: str, ts: float, ok: bool, reason: str | None, duration: float,
                 difference: float | None, screenshot: str | None, final_url: str | None, error: str | None) -> None:
    conn.execute("INSERT INTO render_state(site, ts, ok, reason, duration, visual_difference, screenshot, "
                 "final_url, error) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(site) DO UPDATE SET ts=excluded.ts, "
                 "ok=excluded.ok, reason=excluded.reason, duration=excluded.duration, "
                 "visual_difference=excluded.visual_difference, screenshot=excluded.screenshot, "
                 "final_url=excluded.final_url, error=excluded.error",
                 (site, ts, int(ok), reason, duration, difference, screenshot, (final_url or "")[:500],
                  (error or "")[:300] or None))


def latest_screenshot(store: Any, site: str) -> str | None:
    """The sha256 of the site's last screenshot (what an alert's link shows), None if never rendered."""
    try:
        rows = store.query("SELECT screenshot FROM render_state WHERE site=?", (site,))
    except (sqlite3.OperationalError, database_error()):   # no table yet: rendering never ran
        return None
    return str(rows[0]["screenshot"]) if rows and rows[0]["screenshot"] else None


def last_renders(store: Any) -> list[sqlite3.Row]:
    """The last render of every site (empty when rendering never ran: no table yet)."""
    try:
        return store.query("SELECT * FROM render_state")
    except (sqlite3.OperationalError, database_error()):
        return []
