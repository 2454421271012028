"""The agent's durable outbox: every event is committed to SQLite (WAL, synchronous=FULL) before it is sent.

Rows leave only when the collector acknowledged them. The spool is bounded in bytes: if the bound is hit
(a long collector outage), the oldest events are dropped and the number dropped is kept on disk and
reported in every heartbeat, so a loss is never silent. Unsent heartbeats are replaced, not queued.

Nothing one event holds can block the others: each event is serialised on its own (a string that is
not UTF-8, e.g. a file name with byte 0xff, is written in its escaped display form), and a batch the
database refuses for a reason of its own is split until the one bad event is isolated and dead-lettered.
A full disk is not an event's fault: `put` raises SpoolFull and the caller decides (runner.py). A spool
SQLite cannot read (corrupt) is moved aside as `spool.db.corrupt-<time>` for forensics and replaced.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable

from govwatch.agents.paths import safe_json
from govwatch.errors import GovwatchError
from govwatch.events import Event

log = logging.getLogger("govwatch.agent.spool")
_CORRUPT = ("malformed", "not a database", "file is encrypted", "corrupt")


class SpoolFull(GovwatchError, OSError):
    """The spool cannot be written now (disk full, I/O error, read-only): no event's fault."""


class SpoolCorrupt(GovwatchError, OSError):
    """SQLite cannot read the spool file."""


def classify(exc: BaseException) -> type[OSError] | None:
    """SpoolCorrupt, SpoolFull, or None when the error belongs to the rows being written."""
    text = str(exc).lower()
    if isinstance(exc, sqlite3.DatabaseError) and any(word in text for word in _CORRUPT):
        return SpoolCorrupt
    if isinstance(exc, sqlite3.OperationalError | OSError):
        return SpoolFull
    return None

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
                                   kind TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS dead (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, body BLOB NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Spool:
    """Thread-safe outbox; one connection guarded by a lock (writes are batched by the caller)."""

    def __init__(self, path: str, max_bytes: int = 256 * 2**20, clock=time.time) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path, self.max_bytes, self.clock = path, max_bytes, clock
        self._lock = threading.Lock()
        self.recovered: str | None = None  # set when a corrupt spool was moved aside at open
        self.escaped = 0  # events whose strings had to be escaped (non-UTF-8 file names)
        self.unwritable = 0  # events dead-lettered at write time (this run)
        self.unwritable_unstored = 0  # ... of which even the dead-letter row could not be written
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if classify(exc) is not SpoolCorrupt:
                raise SpoolFull(f"cannot open the spool {path}: {exc}") from None
            self._db = self._replace(str(exc))
        self._recount()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            check = db.execute("PRAGMA quick_check(1)").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed ({check[0] if check else '?'})")
            db.executescript(SCHEMA)
        except BaseException:
            db.close()
            raise
        os.chmod(self.path, 0o600)
        return db

    def _replace(self, reason: str) -> sqlite3.Connection:
        """Move the unreadable spool (and its -wal/-shm) aside for forensics and start an empty one."""
        aside = f"{self.path}.corrupt-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(self.clock()))}"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.replace(self.path + suffix, aside + suffix)
        self.recovered = f"spool {self.path} was unreadable ({reason}); kept as {aside}, a new one started"
        log.critical(self.recovered)
        return self._open()

    def recover(self, reason: str) -> None:
        """Replace a spool found corrupt while running (its events are in the copy kept aside)."""
        with self._lock:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = self._replace(reason)
            self._recount()

    def put(self, events: Iterable[Event]) -> int:
        """Commit events in one transaction (one fsync), making room by dropping the oldest if needed.

        Returns how many events were dead-lettered instead (unserialisable, or refused by the database).
        Raises SpoolFull or SpoolCorrupt (nothing written) when the spool itself cannot take writes."""
        rows, bad = [], []
        for event in events:
            row = self._encode(event)
            (rows if isinstance(row[2], bytes) else bad).append(row)
        if not rows and not bad:
            return 0
        with self._lock:
            for event_id, _kind, reason in bad:
                self._bury_row(event_id, json.dumps({"id": event_id}).encode(), str(reason))
            return len(bad) + self._insert(rows)

    def _encode(self, event: Event) -> tuple[str, str, bytes | str]:
        """(id, kind, JSON body), or (id, kind, reason) when the event cannot be serialised at all.

        Strict JSON: a non-UTF-8 string is escaped, NaN/Infinity become null (counted in `escaped`)."""
        try:
            raw = event.to_dict()
            try:
                text = json.dumps(raw, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
                return str(event.id), str(event.kind), text.encode()
            except (UnicodeEncodeError, ValueError):
                self.escaped += 1
                text = json.dumps(safe_json(raw), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
                return str(event.id), str(event.kind), text.encode()
        except (TypeError, ValueError, RecursionError) as exc:
            return str(event.id), str(event.kind), f"unwritable: {type(exc).__name__}: {exc}"[:500]

    def _insert(self, rows: list[tuple[str, str, bytes]]) -> int:
        """Insert in one transaction; a batch refused for a row's sake is split until that row is found."""
        if not rows:
            return 0
        try:
            self._commit(rows)
            return 0
        except Exception as exc:
            kind = classify(exc)
            if kind is not None:
                raise kind(str(exc)) from None
            if len(rows) == 1:
                self._bury_row(rows[0][0], rows[0][2][:4096], f"unwritable: {type(exc).__name__}: {exc}")
                return 1
            half = len(rows) // 2
            return self._insert(rows[:half]) + self._insert(rows[half:])

    def _commit(self, rows: list[tuple[str, str, bytes]]) -> None:
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
            self._rollback()
            raise
        self._bytes += incoming
        self._count += len(rows)

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (e.g. SQLITE_FULL)
        try:
            self._recount()
        except sqlite3.Error:
            pass

    def _bury_row(self, event_id: str, body: bytes, reason: str) -> None:
        """Dead-letter an event that never reached the outbox (negative seq: never clashes with one that did)."""
        log.error("event %s cannot be spooled; dead-lettered: %s", event_id, reason)
        self.unwritable += 1
        try:
            self._db.execute("INSERT INTO dead(seq, id, body, reason) VALUES "
                             "((SELECT MIN(0, COALESCE(MIN(seq), 0)) - 1 FROM dead), ?, ?, ?)",
                             (event_id[:80], body, reason[:500]))
        except sqlite3.Error as exc:  # counted in memory (the heartbeat carries it) when even this fails
            log.error("dead-letter write failed too: %s", exc)
            self.unwritable_unstored += 1

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
        """Delete what the collector acknowledged (raises SpoolFull/SpoolCorrupt; then sent again, and the
        collector, which stores each id once, ignores the repeat)."""
        if not seqs:
            return
        with self._lock:
            marks, gone = ",".join("?" * len(seqs)), []

            def delete() -> None:
                gone.append(self._db.execute(f"SELECT COALESCE(SUM(LENGTH(body)),0), COUNT(*) FROM outbox WHERE seq IN "
                                             f"({marks})", seqs).fetchone())
                self._db.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", seqs)

            self._transaction(delete)
            self._bytes -= int(gone[0][0])
            self._count -= int(gone[0][1])

    def bury(self, seq: int, reason: str) -> None:
        """Move an event the collector refuses for good into the dead-letter table (kept, counted)."""
        def move() -> None:
            self._db.execute("INSERT OR REPLACE INTO dead(seq, id, body, reason) SELECT seq, id, body, ? FROM outbox "
                             "WHERE seq = ?", (reason[:500], seq))
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

        with self._lock:
            self._transaction(move)
            self._recount()

    def _transaction(self, work) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            work()
            self._db.execute("COMMIT")
        except Exception as exc:
            self._rollback()
            raise (classify(exc) or SpoolFull)(str(exc)) from None

    def backlog(self) -> int:
        return self._count

    def dropped(self) -> int:
        return self._meta_count("SELECT value FROM meta WHERE key='dropped'", "_last_dropped")

    def dead(self) -> int:
        return self._meta_count("SELECT COUNT(*) FROM dead", "_last_dead") + self.unwritable_unstored

    def _meta_count(self, sql: str, cache: str) -> int:
        """A counter for the heartbeat; the last value read if the spool cannot be read now."""
        try:
            with self._lock:
                row = self._db.execute(sql).fetchone()
        except sqlite3.Error:
            return getattr(self, cache, 0)
        value = int(row[0]) if row else 0
        setattr(self, cache, value)
        return value

    def close(self) -> None:
        with self._lock:
            self._db.close()
