"""The two store backends behind collector/store.py: SQLite (embedded default) and PostgreSQL (shared).

Both hand out connections with the same surface (`execute(sql, params)` -> cursor with fetchone/fetchall/
rowcount, rows by position and name) and the same transaction discipline: one writer at a time. SQLite gets
that from BEGIN IMMEDIATE; PostgreSQL from an advisory lock taken at BEGIN, so any number of collectors
sharing one database write one after another and read-then-write logic (incidents, states) stays exact.
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from govwatch.collector import pg
from govwatch.errors import GovwatchError


class StoreUnavailable(GovwatchError):
    """The store cannot take writes now (disk full, I/O error, PostgreSQL down): answer 503, not ready."""


class StoreCorrupt(GovwatchError):
    """The store file is damaged: start-up stops with one line naming the file and what to do."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"collector store {path} is damaged ({detail}); the collector did not start and left the file as "
            f"it is. Copy it (with any -wal and -shm files) aside for forensics, then restore your last backup "
            f"to {path}, or salvage it with `sqlite3 {path} .recover | sqlite3 {path}.recovered` and move the "
            f"recovered file into place; agents keep their events spooled meanwhile")


def sqlite_connect(path: str) -> sqlite3.Connection:
    """Open the store file with the settings every connection needs."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


class SqliteBackend:
    """One file in WAL mode with synchronous=FULL; readers get a connection per thread."""

    name = "sqlite"

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path, self.where = path, path
        self._local = threading.local()
        try:
            self.writer: Any = sqlite_connect(path)
            rows = self.writer.execute("PRAGMA quick_check(3)").fetchall()  # damage found at start-up
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(path, str(exc)) from None
        problems = [r[0] for r in rows if r[0] != "ok"]
        if problems:
            raise StoreCorrupt(path, "; ".join(problems)[:300])

    def begin(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def commit(self, conn: Any) -> None:
        conn.execute("COMMIT")

    def rollback(self, conn: Any) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def unavailable(self, exc: BaseException) -> str | None:
        """Why a failed write means "cannot write now" (503), or None for a bug to raise."""
        if isinstance(exc, sqlite3.OperationalError) and any(
                word in str(exc) for word in ("full", "disk I/O", "readonly", "unable to open")):
            return f"the store cannot write: {exc}"
        return None

    def reader(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = sqlite_connect(self.path)
        return conn

    def fast_reader(self) -> Any:
        """A reader that gives up after 0.2 s of lock wait (raises sqlite3.OperationalError)."""
        conn = getattr(self._local, "fast", None)
        if conn is None:
            conn = self._local.fast = sqlite_connect(self.path)
            conn.execute("PRAGMA busy_timeout=200")
        return conn

    def columns(self, conn: Any, table: str) -> set[str]:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}

    def free_bytes(self) -> int | None:
        stat = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
        return stat.f_bavail * stat.f_frsize

    def reopen_writer(self) -> None:
        """SQLite's writer does not go away; nothing to do."""

    def refill_fast(self) -> None:
        """SQLite connections do not go away; nothing to do."""

    def close(self) -> None:
        self.writer.close()


class PooledReader:
    """`execute()` on a bounded pool of autocommit PostgreSQL connections: each statement borrows one,
    fetches its rows and gives it back, so 64 request threads need only a few server connections."""

    def __init__(self, dsn: str, size: int, wait: float, inline: bool = True) -> None:
        """`inline=False` (the HTTP I/O loop's pool) never connects inside execute(): a server that does not
        answer would stall the loop for the connect timeout; refill() from a worker thread reconnects."""
        self.dsn, self.wait, self.inline, self.size = dsn, wait, inline, size
        self._missing = True  # some slot holds no open connection (refill() has work)
        self._idle: queue.LifoQueue[pg.PgConnection | None] = queue.LifoQueue()
        for _ in range(size):
            self._idle.put(None)  # a slot; connected on first use

    def _connect(self) -> pg.PgConnection:
        return pg.PgConnection(self.dsn, statement_timeout_ms=0 if self.inline else 1000)

    def refill(self) -> None:
        """Connect the empty slots (from a thread that may wait); nearly free when none is empty."""
        if not self._missing:
            return
        taken: list[pg.PgConnection | None] = []
        try:
            while len(taken) < self.size:
                taken.append(self._idle.get_nowait())
        except queue.Empty:
            pass
        try:
            for index, conn in enumerate(taken):
                if conn is None or conn.broken:
                    try:
                        taken[index] = self._connect()
                    except pg.PgUnavailable:
                        taken[index] = None
        finally:
            for conn in taken:
                self._idle.put(conn)
            self._missing = any(conn is None for conn in taken) or len(taken) < self.size

    def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> pg.Cursor:
        try:
            conn = self._idle.get(timeout=self.wait)
        except queue.Empty:
            raise StoreUnavailable("the store is busy (every PostgreSQL reader in use)") from None
        if not self.inline and (conn is None or conn.broken):
            self._missing = True
            self._idle.put(None)
            raise StoreUnavailable("no open PostgreSQL connection for the I/O loop")
        try:
            if conn is None or conn.broken:
                conn = self._connect()
            try:
                return conn.execute(sql, params)
            except pg.database_error() as exc:  # a connection left from before a server restart: once more
                if not pg.connection_lost(exc) or not self.inline:
                    raise
                conn.close()
                conn = self._connect()
                return conn.execute(sql, params)
        except pg.PgUnavailable as exc:
            conn = None
            raise StoreUnavailable(str(exc)) from None
        except pg.database_error() as exc:
            if pg.connection_lost(exc):
                conn = None
                raise StoreUnavailable(f"PostgreSQL connection lost: {pg.why(exc)}") from None
            raise
        finally:
            keep = conn if conn is not None and not conn.broken else None
            self._missing = self._missing or keep is None
            self._idle.put(keep)

    def close(self) -> None:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            if conn is not None:
                conn.close()


class PgBackend:
    """A PostgreSQL database shared by any number of collectors."""

    name = "postgresql"

    def __init__(self, dsn: str, readers: int = 8) -> None:
        self.path, self.where = dsn, pg.redact(dsn)
        self.writer: Any = pg.PgConnection(dsn)  # PgUnavailable (one line) when it cannot connect
        self._readers = PooledReader(dsn, readers, wait=30.0)
        self._fast = PooledReader(dsn, 2, wait=0.2, inline=False)
        self.refill_fast()

    def begin(self, conn: Any) -> None:
        """BEGIN; a writer connection left from before a server restart is replaced once (nothing ran yet)."""
        try:
            conn.begin()
        except pg.database_error() as exc:
            if not pg.connection_lost(exc):
                raise
            conn.close()
            self.writer = pg.PgConnection(self.path)
            self.writer.begin()

    def commit(self, conn: Any) -> None:
        conn.commit()

    def rollback(self, conn: Any) -> None:
        try:
            conn.rollback()
        except pg.database_error():
            pass  # the connection is gone; the server rolled back

    def unavailable(self, exc: BaseException) -> str | None:
        if isinstance(exc, pg.PgUnavailable):
            return str(exc)
        if pg.connection_lost(exc):
            return f"the store cannot write: PostgreSQL connection lost ({pg.why(exc)})"
        return None

    def reader(self) -> Any:
        return self._readers

    def fast_reader(self) -> Any:
        return self._fast

    def refill_fast(self) -> None:
        """Open the I/O loop's connections again after PostgreSQL was away (worker threads call this)."""
        self._fast.refill()

    def columns(self, conn: Any, table: str) -> set[str]:
        rows = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name=? "
                            "AND table_schema=current_schema()", (table,)).fetchall()
        return {row[0] for row in rows}

    def free_bytes(self) -> int | None:
        return None  # the database server watches its own disk

    def reopen_writer(self) -> None:
        """Reconnect the writer after PostgreSQL went away (raises PgUnavailable while it is still down)."""
        if self.writer.broken:
            self.writer = pg.PgConnection(self.path)

    def close(self) -> None:
        self.writer.close()
        self._readers.close()
        self._fast.close()


def open_backend(target: str) -> SqliteBackend | PgBackend:
    """`target` is the SQLite file or a postgresql:// DSN."""
    if pg.is_dsn(target):
        try:
            return PgBackend(target)
        except pg.PgUnavailable as exc:
            raise StoreUnavailable(str(exc)) from None
    return SqliteBackend(target)


@contextmanager
def write_transaction(backend: Any, lock: threading.Lock, on_error: Callable[[str | None], None]) -> Iterator[Any]:
    """The single writer inside BEGIN ... COMMIT; a failure to write (disk, server gone) becomes
    StoreUnavailable and is reported to `on_error` (None after a successful commit)."""
    with lock:
        conn = None
        try:
            backend.reopen_writer()
            backend.begin(backend.writer)
            conn = backend.writer
            try:
                yield conn
            except BaseException:
                backend.rollback(conn)
                raise
            backend.commit(conn)
        except (sqlite3.Error, pg.database_error(), pg.PgUnavailable) as exc:
            backend.rollback(conn if conn is not None else backend.writer)
            why = backend.unavailable(exc)
            if why is None:
                raise
            on_error(why)
            raise StoreUnavailable(why) from None
        on_error(None)
