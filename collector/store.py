"""The collector's store: SQLite in WAL mode with synchronous=FULL (the embedded default) or a PostgreSQL
database shared by several collectors (collector.yml `store:`); either way an acknowledged event is on disk.

One writer connection behind a lock, and one writer at a time across collectors (storedb.py); readers get
their own connections. Events are inserted idempotently on (agent, id) and every counter they move is updated in
the same transaction, so a retried batch is never counted twice and counters survive a restart.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from govwatch.collector import incidents
from govwatch.collector.counters import add_counters, bump
from govwatch.collector.ingest import GroupCommit
from govwatch.collector.migrations import install_schema
from govwatch.collector.storedb import StoreCorrupt, StoreUnavailable, open_backend, write_transaction

__all__ = ["Store", "StoreCorrupt", "StoreUnavailable", "token_digest"]

def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    """All reads and writes of collector state go through here, on SQLite or PostgreSQL alike."""

    def __init__(self, path: str, clock: Callable[[], float] = time.time,
                 joining: incidents.Joining | None = None, min_free: int = 0) -> None:
        """`path` is the SQLite file or a postgresql:// DSN (collector.yml `store:`)."""
        self.path, self.clock, self.joining = path, clock, joining or incidents.Joining()
        self.min_free = min_free
        self.write_error: tuple[float, str] | None = None  # (monotonic time, why) of the last failed commit
        self._write_lock = threading.Lock()
        self.backend = open_backend(path)
        self.kind, self.where = self.backend.name, self.backend.where
        self.schema_version = install_schema(self)
        self.ingest_group = GroupCommit(self.transaction, self.joining)   # batches arriving together commit as one

    # -- connections -------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """The single writer inside BEGIN ... COMMIT (SQLite: BEGIN IMMEDIATE, fsync'd by synchronous=FULL;
        PostgreSQL: the advisory write lock shared by every collector on the database).

        A failed write (disk full, I/O error, PostgreSQL gone) is remembered for /readyz and raised as
        StoreUnavailable; the next transaction reconnects."""
        with write_transaction(self.backend, self._write_lock, self._note_write) as conn:
            yield conn

    def _note_write(self, why: str | None) -> None:
        self.write_error = None if why is None else (time.monotonic(), why)

    def reader(self) -> Any:
        """A connection for reads (SQLite: this thread's own; PostgreSQL: a small shared pool)."""
        return self.backend.reader()

    def query(self, sql: str, params: tuple | dict = ()) -> list[Any]:
        return self.reader().execute(sql, params).fetchall()

    def close(self) -> None:
        with self._write_lock:
            self.backend.close()

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

    def agent_for_token(self, token: str) -> Any:
        row = self.reader().execute("SELECT * FROM agents WHERE token_sha256=? AND revoked IS NULL",
                                    (token_digest(token),)).fetchone()
        self.backend.refill_fast()  # a worker thread: may reconnect what the I/O loop's lookup must not wait for
        return row

    def agent_for_token_fast(self, token: str) -> Any:
        """For the HTTP I/O loop, which must never stall: a lock or pool wait longer than 0.2 s raises
        sqlite3.OperationalError or StoreUnavailable instead (the caller then lets the worker decide)."""
        return self.backend.fast_reader().execute("SELECT * FROM agents WHERE token_sha256=? AND revoked IS NULL",
                            (token_digest(token),)).fetchone()

    def agent_known(self, name: str) -> Any:
        return self.reader().execute("SELECT * FROM agents WHERE name=?", (name,)).fetchone()

    def active_agents(self) -> list[Any]:
        return self.query("SELECT * FROM agents WHERE revoked IS NULL ORDER BY name")

    # -- ingest ------------------------------------------------------------------------------------
    def ingest(self, agent: str, events: list[dict[str, Any]], skew: float | None = None,
               now: float | None = None) -> tuple[int, int]:
        """Store a validated batch for `agent` (and its measured clock skew); return (accepted, duplicates).
        All or nothing; returns once the batch is committed, often in one transaction with the batches that
        arrived meanwhile (group commit: collector/ingest.py)."""
        now = self.clock() if now is None else now
        return self.ingest_group.submit(agent, events, skew, now)

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
        free = self.backend.free_bytes()
        if free is not None and free < self.min_free:
            raise StoreUnavailable(f"only {free // 1024} KiB free on the store's file system "
                                   f"(limits.min_free_disk is {self.min_free // 1024} KiB)")
        with self.transaction() as conn:  # after a failed ingest this is the retry that clears write_error
            conn.execute("INSERT INTO meta(key, value) VALUES ('ready_probe', ?) "
                         "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (str(self.clock()),))

    def purge(self, events_before: float, probes_before: float) -> None:
        """Drop raw events and probe rows past retention; counters and incidents stay."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM events WHERE received < ?", (events_before,))
            conn.execute("DELETE FROM site_probes WHERE ts < ?", (probes_before,))
