"""The collector's store: SQLite in WAL mode with synchronous=FULL, so an acknowledged event is on disk.

One writer connection behind a lock (SQLite has one writer anyway); readers get their own connection
per thread. Events are inserted idempotently on (agent, id) and every counter they move is updated in
the same transaction, so a retried batch is never counted twice and counters survive a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from govwatch.collector import incidents
from govwatch.collector.counters import add_counters, bump
from govwatch.collector.ingest import GroupCommit
from govwatch.errors import GovwatchError

SCHEMA_VERSION = "1"
_GROUP_INIT = threading.Lock()  # creates a store's group-commit writer once (Store.ingest)


class StoreUnavailable(GovwatchError):
    """The store cannot take writes now (disk full, I/O error): answer 503, report not ready."""


class StoreCorrupt(GovwatchError):
    """The store file is damaged: start-up stops with one line naming the file and what to do."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"collector store {path} is damaged ({detail}); the collector did not start and left the file as "
            f"it is. Copy it (with any -wal and -shm files) aside for forensics, then restore your last backup "
            f"to {path}, or salvage it with `sqlite3 {path} .recover | sqlite3 {path}.recovered` and move the "
            f"recovered file into place; agents keep their events spooled meanwhile")


def check_intact(conn: sqlite3.Connection, path: str) -> None:
    """PRAGMA quick_check (reads every page once; seconds for a large store): damage found at start-up,
    not as 500s later."""
    rows = conn.execute("PRAGMA quick_check(3)").fetchall()
    problems = [r[0] for r in rows if r[0] != "ok"]
    if problems:
        raise StoreCorrupt(path, "; ".join(problems)[:300])


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def connect(path: str) -> sqlite3.Connection:
    """Open the store file with the settings every connection needs."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


class Store:
    """All reads and writes of collector state go through here."""

    def __init__(self, path: str, clock: Callable[[], float] = time.time,
                 joining: incidents.Joining | None = None, min_free: int = 0) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path, self.clock, self.joining = path, clock, joining or incidents.Joining()
        self.min_free = min_free
        self.write_error: tuple[float, str] | None = None  # (monotonic time, why) of the last failed commit
        self._write_lock = threading.Lock()
        self._local = threading.local()
        try:
            self._writer = connect(path)
            check_intact(self._writer, path)
            schema = resources.files("govwatch.collector").joinpath("schema.sql").read_text()
            self._writer.executescript(schema)
            self._writer.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                                 (SCHEMA_VERSION,))
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(path, str(exc)) from None

    # -- connections -------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The single writer, inside BEGIN IMMEDIATE ... COMMIT (fsync'd by synchronous=FULL).

        A failed write (disk full, I/O error) is remembered for /readyz and raised as StoreUnavailable."""
        with self._write_lock:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                try:
                    yield self._writer
                except BaseException:
                    if self._writer.in_transaction:
                        self._writer.execute("ROLLBACK")
                    raise
                self._writer.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self._writer.in_transaction:
                    try:
                        self._writer.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if not any(word in str(exc) for word in ("full", "disk I/O", "readonly", "unable to open")):
                    raise
                self.write_error = (time.monotonic(), str(exc))
                raise StoreUnavailable(f"the store cannot write: {exc}") from None
            self.write_error = None

    def reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return self.reader().execute(sql, params).fetchall()

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()

    # -- agents ------------------------------------------------------------------------------------
    def add_agent(self, name: str, ministry: str, token: str, hostname: str = "", version: str = "") -> bool:
        """Enroll an agent; False if the name is taken by an agent that is not revoked."""
        now = self.clock()
        with self.transaction() as conn:
            row = conn.execute("SELECT revoked FROM agents WHERE name=?", (name,)).fetchone()
            if row is not None and row["revoked"] is None:
                return False
            conn.execute("DELETE FROM agents WHERE name=?", (name,))
            conn.execute("INSERT INTO agents(name, ministry, token_sha256, enrolled, hostname, version) "
                         "VALUES (?,?,?,?,?,?)", (name, ministry, token_digest(token), now, hostname, version))
        return True

    def revoke_agent(self, name: str) -> bool:
        with self.transaction() as conn:
            cur = conn.execute("UPDATE agents SET revoked=? WHERE name=? AND revoked IS NULL", (self.clock(), name))
            return cur.rowcount > 0

    def agent_for_token(self, token: str) -> sqlite3.Row | None:
        return self.reader().execute("SELECT * FROM agents WHERE token_sha256=? AND revoked IS NULL",
                                     (token_digest(token),)).fetchone()

    def agent_for_token_fast(self, token: str) -> sqlite3.Row | None:
        """For the HTTP I/O loop, which must never stall: a lock held longer than 0.2 s raises
        sqlite3.OperationalError instead of waiting (the caller then lets the worker decide)."""
        conn = getattr(self._local, "fast", None)
        if conn is None:
            conn = self._local.fast = connect(self.path)
            conn.execute("PRAGMA busy_timeout=200")
        return conn.execute("SELECT * FROM agents WHERE token_sha256=? AND revoked IS NULL",
                            (token_digest(token),)).fetchone()

    def agent_known(self, name: str) -> sqlite3.Row | None:
        return self.reader().execute("SELECT * FROM agents WHERE name=?", (name,)).fetchone()

    def active_agents(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM agents WHERE revoked IS NULL ORDER BY name")

    # -- ingest ------------------------------------------------------------------------------------
    def ingest(self, agent: str, events: list[dict[str, Any]], skew: float | None = None,
               now: float | None = None) -> tuple[int, int]:
        """Store a validated batch for `agent` (and its measured clock skew); return (accepted, duplicates).
        All or nothing; returns once the batch is committed, often in one transaction with the batches that
        arrived meanwhile (group commit: collector/ingest.py)."""
        now = self.clock() if now is None else now
        return self._group_commit().submit(agent, events, skew, now)

    def _group_commit(self) -> GroupCommit:
        group = self.__dict__.get("_ingest_group")
        if group is None:
            with _GROUP_INIT:
                group = self.__dict__.setdefault("_ingest_group", GroupCommit(self.transaction, self.joining))
        return group

    def take_commands(self, agent: str) -> list[dict[str, Any]]:
        """Pending commands for `agent`, marked delivered (they ride on the answer to its next batch)."""
        if not self.reader().execute("SELECT 1 FROM commands WHERE agent=? AND delivered IS NULL LIMIT 1",
                                     (agent,)).fetchone():
            return []
        with self.transaction() as conn:
            rows = conn.execute("SELECT id, kind, arg FROM commands WHERE agent=? AND delivered IS NULL ORDER BY id",
                                (agent,)).fetchall()
            conn.execute("UPDATE commands SET delivered=? WHERE agent=? AND delivered IS NULL", (self.clock(), agent))
        return [{"id": r["id"], "kind": r["kind"], "arg": r["arg"]} for r in rows]

    def count_rejected(self, reasons: dict[str, int]) -> None:
        """Persist rejected-request counts (batched by the caller so a flood costs few writes)."""
        with self.transaction() as conn:
            counts: dict[tuple[str, str], float] = {}
            for reason, n in reasons.items():
                bump(counts, "govwatch_ingest_rejected_total", float(n), reason=reason)
            add_counters(conn, counts)

    def counters(self, name: str) -> list[tuple[dict[str, str], float]]:
        rows = self.query("SELECT labels, value FROM counters WHERE name=?", (name,))
        return [(json.loads(r["labels"]), r["value"]) for r in rows]

    def check_writable(self) -> None:
        """Raise StoreUnavailable unless ingest can really write: enough free disk and a probe write commits
        (a tiny probe alone can succeed in a full disk's free pages, hence the free-space floor)."""
        stat = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
        free = stat.f_bavail * stat.f_frsize
        if free < self.min_free:
            raise StoreUnavailable(f"only {free // 1024} KiB free on the store's file system "
                                   f"(limits.min_free_disk is {self.min_free // 1024} KiB)")
        with self.transaction() as conn:  # after a failed ingest this is the retry that clears write_error
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('ready_probe', ?)", (str(self.clock()),))

    def purge(self, events_before: float, probes_before: float) -> None:
        """Drop raw events and probe rows past retention; counters and incidents stay."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM events WHERE received < ?", (events_before,))
            conn.execute("DELETE FROM site_probes WHERE ts < ?", (probes_before,))
