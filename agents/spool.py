"""The agent's durable outbox: every event is committed to SQLite (WAL, synchronous=FULL) before it is sent.

Rows leave only when the collector acknowledged them. The spool is bounded in bytes: if the bound is hit
(a long collector outage), the oldest events are dropped and the number dropped is kept on disk and
reported in every heartbeat, so a loss is never silent. Unsent heartbeats are replaced, not queued.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable

from govwatch.events import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
                                   kind TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS dead (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, body BLOB NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Spool:
    """Thread-safe outbox; one connection guarded by a lock (writes are batched by the caller)."""

    def __init__(self, path: str, max_bytes: int = 256 * 2**20) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path, self.max_bytes = path, max_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        os.chmod(path, 0o600)
        row = self._db.execute("SELECT COALESCE(SUM(LENGTH(body)), 0), COUNT(*) FROM outbox").fetchone()
        self._bytes, self._count = int(row[0]), int(row[1])

    def put(self, events: Iterable[Event]) -> None:
        """Commit events in one transaction (one fsync), making room by dropping the oldest if needed."""
        rows = [(e.id, e.kind, json.dumps(e.to_dict(), ensure_ascii=False, separators=(",", ":")).encode())
                for e in events]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if any(kind == "heartbeat" for _, kind, _ in rows):
                    self._delete_where("kind = 'heartbeat'")
                incoming = sum(len(body) for _, _, body in rows)
                if self._bytes + incoming > self.max_bytes:
                    self._make_room(self._bytes + incoming - self.max_bytes)
                self._db.executemany("INSERT OR IGNORE INTO outbox(id, kind, body) VALUES (?,?,?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._recount()
                raise
            self._bytes += incoming
            self._count += len(rows)

    def _delete_where(self, condition: str) -> None:
        sql = f"SELECT COALESCE(SUM(LENGTH(body)),0), COUNT(*) FROM outbox WHERE {condition}"
        row = self._db.execute(sql).fetchone()
        self._db.execute(f"DELETE FROM outbox WHERE {condition}")
        self._bytes -= int(row[0])
        self._count -= int(row[1])

    def _make_room(self, need: int) -> None:
        freed, dropped, last_seq = 0, 0, None
        for seq, size in self._db.execute("SELECT seq, LENGTH(body) FROM outbox ORDER BY seq"):
            if freed >= need:
                break
            freed, dropped, last_seq = freed + size, dropped + 1, seq
        if last_seq is not None:
            self._db.execute("DELETE FROM outbox WHERE seq <= ?", (last_seq,))
            self._bytes -= freed
            self._count -= dropped
            self._db.execute("INSERT INTO meta(key, value) VALUES ('dropped', ?) "
                             "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value", (dropped,))

    def _recount(self) -> None:
        row = self._db.execute("SELECT COALESCE(SUM(LENGTH(body)), 0), COUNT(*) FROM outbox").fetchone()
        self._bytes, self._count = int(row[0]), int(row[1])

    def peek(self, limit: int) -> list[tuple[int, bytes]]:
        """The oldest unsent events as (seq, JSON body)."""
        with self._lock:
            return list(self._db.execute("SELECT seq, body FROM outbox ORDER BY seq LIMIT ?", (limit,)))

    def ack(self, seqs: list[int]) -> None:
        """Delete what the collector acknowledged."""
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(f"SELECT COALESCE(SUM(LENGTH(body)),0), COUNT(*) FROM outbox WHERE seq IN "
                                   f"({','.join('?' * len(seqs))})", seqs).fetchone()
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
            self._db.execute("COMMIT")
            self._bytes -= int(row[0])
            self._count -= int(row[1])

    def bury(self, seq: int, reason: str) -> None:
        """Move an event the collector refuses for good into the dead-letter table (kept, counted)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR REPLACE INTO dead(seq, id, body, reason) SELECT seq, id, body, ? FROM outbox "
                             "WHERE seq = ?", (reason[:500], seq))
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            self._db.execute("COMMIT")
            self._recount()

    def backlog(self) -> int:
        return self._count

    def dropped(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='dropped'").fetchone()
        return int(row[0]) if row else 0

    def dead(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM dead").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
