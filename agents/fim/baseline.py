"""The integrity baseline: one row per file in SQLite, sealed with an HMAC so tampering shows.

The rows stay in SQLite, not in Python objects: a lookup is one primary-key SELECT (microseconds,
cheap next to hashing the file), so the watcher's memory does not grow with the tree.

Seal (format 2): each row has a keyed digest (BLAKE2b keyed with the baseline key, over the row's
canonical text); their sum modulo 2**256 and the row count are kept in `meta`, and the seal is
HMAC-SHA256(key, sum, count, roots). The sum does not depend on order, so a realtime update re-seals
in O(1) (subtract the old row's digest, add the new one) in the same transaction as the row, and
verifying is one streaming pass. Without the key nobody can compute a row digest, so no edit can be
balanced by another. The key lives outside the web root (beside the DB or in the agent's data folder,
mode 0600).

A second, cheaper check serves one-shot scans: `DB.seal` holds an HMAC of the whole DB file as written
last; when it matches, nothing was edited and the rows need no pass at all.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from govwatch.agents.fim.state import _TYPES, FileState, FileTable, state_from_stat
from govwatch.errors import GovwatchError

__all__ = ["_TYPES", "Baseline", "BaselineOutdated", "BaselineTampered", "FileState", "load_or_create_key",
           "state_from_stat"]

SCHEMA_VERSION = "2"
_MOD = 1 << 256
_COLUMNS = "path, type, size, mode, uid, gid, inode, mtime_ns, ctime_ns, sha256, target, hashed_at"
_BATCH = 4096


class BaselineTampered(GovwatchError):
    """The baseline's seal does not verify: someone edited it or its key."""


class BaselineOutdated(GovwatchError):
    """The baseline was written by an older govwatch (another seal format): it must be made again."""


def load_or_create_key(key_path: str, create: bool) -> bytes:
    """Read the HMAC key, or create it (mode 0600) when `create`; a missing key is a loud error."""
    try:
        with open(key_path, encoding="ascii") as handle:
            return bytes.fromhex(handle.read().strip())
    except FileNotFoundError:
        if not create:
            raise BaselineTampered(f"baseline key {key_path} is missing: the baseline cannot be trusted") from None
    except (OSError, ValueError) as exc:
        raise BaselineTampered(f"baseline key {key_path} is unreadable: {exc}") from None
    import secrets  # only here: a re-check never creates a key

    key = secrets.token_bytes(32)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
    return key


def _enc(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def _dec(path: bytes) -> str:
    return path.decode("utf-8", "surrogateescape")


class Baseline:
    """The sealed baseline file; `files` is a mapping view of its rows."""

    def __init__(self, db_path: str, key: bytes) -> None:
        self.db_path, self.key = db_path, key
        self.meta: dict[str, str] = {}
        self.count = 0
        self._sum = 0
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._keyed: tuple[bytes, Any] | None = None
        self._applies = 0
        self.files = FileTable(self)

    # --- verifying -----------------------------------------------------------------------------
    def load(self) -> None:
        """Verify the seal (the whole-file seal, else one pass over every row); raise BaselineTampered."""
        try:
            db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
            try:
                self.meta = dict(db.execute("SELECT key, value FROM meta"))
                self._check_version()
                if not self._file_seal_ok():
                    self._verify_rows(db)
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise BaselineTampered(f"baseline {self.db_path} is unreadable: {exc}") from None
        self._trust_meta()

    def _check_version(self) -> None:
        if self.meta.get("version") != SCHEMA_VERSION:
            raise BaselineOutdated(f"baseline {self.db_path} has format {self.meta.get('version')!r}, this govwatch"
                                   f" writes {SCHEMA_VERSION!r}: make it again (fim scan --init)")

    def _verify_rows(self, db: sqlite3.Connection) -> None:
        total, count, digest = 0, 0, self._row_digest
        cursor = db.execute(f"SELECT {_COLUMNS} FROM files")
        while rows := cursor.fetchmany(_BATCH):
            count += len(rows)
            total += sum(digest(row) for row in rows)
        if str(count) != self.meta.get("count") or f"{total % _MOD:064x}" != self.meta.get("sum"):
            raise BaselineTampered(f"baseline {self.db_path} fails verification (edited without the key)")

    def _trust_meta(self) -> None:
        """Take count and sum from meta once their HMAC checks (rows were checked against them, or the file)."""
        try:
            self.count, self._sum = int(self.meta["count"]), int(self.meta["sum"], 16)
        except (KeyError, ValueError):
            raise BaselineTampered(f"baseline {self.db_path} fails verification (no seal)") from None
        if not hmac.compare_digest(self._seal(), str(self.meta.get("seal", ""))):
            raise BaselineTampered(f"baseline {self.db_path} fails verification (edited without the key)")

    def _row_digest(self, row: tuple) -> int:
        """The keyed digest of one row (bytes path first), as an int to add up."""
        if self._keyed is None or self._keyed[0] != self.key:
            self._keyed = (self.key, hashlib.blake2b(key=self.key, digest_size=32))
        digest = self._keyed[1].copy()  # cheaper than keying a new one per row
        digest.update(repr(row).encode("utf-8", "surrogateescape"))
        return int.from_bytes(digest.digest(), "big")

    def _seal(self) -> str:
        message = f"{self._sum:064x}\0{self.count}\0{self.meta.get('roots', '')}".encode("utf-8", "surrogateescape")
        return hmac.new(self.key, message, "sha256").hexdigest()

    # A fast path for one-shot checks: when the DB file is byte for byte what was sealed after the last
    # write (DB.seal = HMAC of the file), the rows need no re-digesting. Any mismatch (a crash, a WAL,
    # an edit) falls back to the row-level seal, which every transaction keeps current.
    def _file_mac(self) -> str | None:
        if os.path.exists(self.db_path + "-wal"):
            return None
        mac = hmac.new(self.key, b"govwatch-fim-file-seal", "sha256")
        with open(self.db_path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                mac.update(chunk)
        return mac.hexdigest()

    def _file_seal_ok(self) -> bool:
        try:
            with open(self.db_path + ".seal", encoding="ascii") as handle:
                stored = handle.read().strip()
        except OSError:
            return False
        current = self._file_mac()
        return current is not None and hmac.compare_digest(current, stored)

    def write_file_seal(self) -> None:
        """Record the HMAC of the whole (checkpointed) DB file for the next one-shot check."""
        self.close()
        db = sqlite3.connect(self.db_path)
        try:  # out of WAL mode: a read-only check of a WAL file leaves a -wal behind, which voids this seal
            db.execute("PRAGMA journal_mode=DELETE")
        finally:
            db.close()
        seal_path = self.db_path + ".seal"
        mac = self._file_mac()
        if mac is None:
            if os.path.exists(seal_path):
                os.unlink(seal_path)
            return
        fd = os.open(seal_path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(mac + "\n")
        os.replace(seal_path + ".tmp", seal_path)

    def roots(self) -> list[str]:
        """The paths the baseline was made for (as given to init)."""
        return [p for p in self.meta.get("roots", "").split("\0") if p]

    # --- reading rows --------------------------------------------------------------------------
    def get(self, path: str) -> FileState | None:
        with self._lock:
            row = self._conn().execute(f"SELECT {_COLUMNS} FROM files WHERE path = ?", (_enc(path),)).fetchone()
        return None if row is None else tuple.__new__(FileState, row[1:])

    def states(self, where: str = "", args: tuple = (), order: str = "path",
               limit: int = -1) -> Iterator[tuple[str, FileState]]:
        """Stream (path, state) rows in path order from a read-only snapshot (writes may go on meanwhile)."""
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        new = tuple.__new__
        try:
            cursor = db.execute(f"SELECT {_COLUMNS} FROM files {where} ORDER BY {order} LIMIT {int(limit)}", args)
            while rows := cursor.fetchmany(_BATCH):
                for row in rows:
                    yield _dec(row[0]), new(FileState, row[1:])
        finally:
            db.close()

    def under(self, folder: str) -> Iterator[tuple[str, FileState]]:
        """Every row strictly below `folder`."""
        prefix = _enc(folder.rstrip("/")) + b"/"
        return self.states("WHERE path > ? AND path < ?", (prefix, prefix[:-1] + b"0"))

    def scalar(self, sql: str, args: tuple = ()) -> Any:
        """One value from a read-only query (sums and counts for the rolling re-hash)."""
        with self._lock:
            return self._conn().execute(sql, args).fetchone()[0]

    def gates(self) -> dict[str, bytes]:
        with self._lock:
            return {_dec(p): g for p, g in self._conn().execute("SELECT path, gate FROM dirs")}

    def open_sealed(self) -> dict[str, bytes] | None:
        """If the DB file is exactly what was sealed, read its meta and folder gates (no rows) and return
        the gates; otherwise None (the caller verifies every row instead)."""
        if not self._file_seal_ok():
            return None
        try:
            db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
            try:
                self.meta = dict(db.execute("SELECT key, value FROM meta"))
                self._check_version()
                gates = {_dec(p): g for p, g in db.execute("SELECT path, gate FROM dirs")}
            finally:
                db.close()
        except sqlite3.Error:
            return None
        self._trust_meta()
        return gates

    def rows(self, paths: Iterable[str], children_of: Iterable[str], subtrees: Iterable[str]) -> dict[str, FileState]:
        """Baseline rows of `paths`, of the direct children of `children_of`, and of everything under `subtrees`."""
        found: dict[str, FileState] = {}
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            one = f"SELECT {_COLUMNS} FROM files WHERE path = ?"
            for path in paths:
                _collect(found, db.execute(one, (_enc(path),)))
            below = f"SELECT {_COLUMNS} FROM files WHERE path > ? AND path < ?"
            for folder, deep in [*((f, False) for f in children_of), *((f, True) for f in subtrees)]:
                prefix = _enc(folder.rstrip("/")) + b"/"
                cursor = db.execute(below, (prefix, prefix[:-1] + b"0"))
                _collect(found, cursor if deep else (r for r in cursor if b"/" not in r[0][len(prefix):]))
        finally:
            db.close()
        return found

    # --- writing -------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA cache_size=-1024")  # 1 MiB: lookups are by key, the OS caches the file
            self._db.execute("PRAGMA wal_autocheckpoint=0")  # checkpoint() does it, off the event path
            self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")  # a checkpointed WAL shrinks back
            _create_tables(self._db)
        return self._db

    def builder(self, roots: Iterable[str]) -> BaselineBuilder:
        """A new baseline written batch by batch, then renamed over this one (init)."""
        self.close()
        return BaselineBuilder(self, list(roots))

    def write_all(self, files: dict[str, FileState], roots: Iterable[str],
                  gates: dict[str, bytes] | None = None) -> None:
        """Replace the whole baseline atomically (init): rows inserted in key order, then renamed into place."""
        build = self.builder(roots)
        build.add_rows([(_enc(p), *files[p]) for p in sorted(files)])  # key order: the fastest inserts
        build.finish(gates or {})

    def apply(self, upserts: dict[str, FileState], deletes: Iterable[str] = ()) -> None:
        """Change some rows and re-seal, in one transaction (realtime and --update)."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN")
            try:
                self._apply(db, upserts, deletes)
                db.execute("COMMIT")
            except BaseException:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # SQLite rolled back already (SQLITE_FULL): the sum must still be restored
                self._trust_meta_from(db)
                raise
            self._applies += 1
            if self._applies % 64 == 0:
                checkpoint_if_big(self.db_path)

    def _apply(self, db: sqlite3.Connection, upserts: dict[str, FileState], deletes: Iterable[str]) -> None:
        one, digest = f"SELECT {_COLUMNS} FROM files WHERE path = ?", self._row_digest
        gone = []
        for path in {*deletes, *upserts}:
            old = db.execute(one, (_enc(path),)).fetchone()
            if old is not None:
                self._sum -= digest(old)
                self.count -= 1
                gone.append(path)
        rows = [(_enc(p), *s) for p, s in upserts.items()]
        for row in rows:
            self._sum += digest(row)
        self.count += len(rows)
        self._sum %= _MOD
        db.executemany("DELETE FROM files WHERE path = ?", ((_enc(p),) for p in gone if p not in upserts))
        db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.executemany("DELETE FROM dirs WHERE path = ?", _folders_touched([*gone, *upserts]))
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                       [("sum", f"{self._sum:064x}"), ("count", str(self.count)), ("seal", self._seal())])

    def _trust_meta_from(self, db: sqlite3.Connection) -> None:
        """After a rollback, take the sum and count back from what is committed."""
        self.meta = dict(db.execute("SELECT key, value FROM meta"))
        self.count, self._sum = int(self.meta["count"]), int(self.meta["sum"], 16)

    def set_gates(self, gates: dict[str, bytes]) -> None:
        """Record folder gates (see scan.folder_gate) that match the rows now in the baseline."""
        with self._lock:
            self._conn().executemany("INSERT OR REPLACE INTO dirs VALUES (?, ?)",
                                     ((_enc(p), g) for p, g in gates.items()))

    def checkpoint(self) -> None:
        """Copy the WAL into the DB from the caller's thread, on a connection of its own: the fsync this
        takes never stalls a realtime commit (an automatic checkpoint would, inside one event in ~300)."""
        if self._db is not None and os.path.exists(self.db_path + "-wal"):
            checkpoint_wal(self.db_path)

    def close(self) -> None:
        """Close the connection; SQLite checkpoints and removes the WAL when the last one closes."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class BaselineBuilder:
    """Writes a new baseline file without a journal (fast), then fsyncs it and renames it into place."""

    def __init__(self, baseline: Baseline, roots: list[str]) -> None:
        self.baseline, self.roots = baseline, roots
        self.tmp = f"{baseline.db_path}.tmp-{os.getpid()}"
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)
        self.db = sqlite3.connect(self.tmp, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA cache_size=-1024")  # rows come in (nearly) key order: a small cache suffices
        _create_tables(self.db)
        self.db.execute("BEGIN")
        self.sum, self.count = 0, 0

    def add(self, files: dict[str, FileState]) -> None:
        self.add_rows([(_enc(p), *s) for p, s in files.items()])

    def add_rows(self, rows: list[tuple]) -> None:
        digest = self.baseline._row_digest
        self.sum += sum(digest(row) for row in rows)
        self.count += len(rows)
        for start in range(0, len(rows), _BATCH):
            self.db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                                rows[start:start + _BATCH])

    def finish(self, gates: dict[str, bytes]) -> None:
        base = self.baseline
        base.meta = {"roots": "\0".join(self.roots), "version": SCHEMA_VERSION}
        base.count, base._sum = self.count, self.sum % _MOD
        meta = {**base.meta, "count": str(base.count), "sum": f"{base._sum:064x}", "seal": base._seal()}
        self.db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        self.db.executemany("INSERT INTO dirs VALUES (?, ?)", ((_enc(p), g) for p, g in gates.items()))
        self.db.execute("COMMIT")
        self.db.close()
        base.meta = meta
        _fsync(self.tmp)
        os.chmod(self.tmp, 0o600)
        os.replace(self.tmp, base.db_path)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(base.db_path + suffix):
                os.unlink(base.db_path + suffix)
        base.write_file_seal()


WAL_LIMIT = 4 * 2**20


def checkpoint_if_big(db_path: str, limit: int = WAL_LIMIT) -> None:
    """Bound the WAL during long bursts (the scan loop's checkpoint waits for the end of a pass): on a
    nearly full disk an unbounded WAL would take the space the spool needs."""
    try:
        big = os.stat(db_path + "-wal").st_size > limit
    except OSError:
        return
    if big:
        checkpoint_wal(db_path)


def checkpoint_wal(db_path: str) -> None:
    """A passive checkpoint (never waits for, nor blocks, the writer) on a short-lived connection."""
    db = sqlite3.connect(db_path, timeout=0)
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.OperationalError:
        pass  # busy: the next pass will do it
    finally:
        db.close()


def _collect(found: dict[str, FileState], rows: Iterable[tuple]) -> None:
    new = tuple.__new__
    for row in rows:
        found[_dec(row[0])] = new(FileState, row[1:])


def _folders_touched(paths: Iterable[str]) -> Iterable[tuple[bytes]]:
    """The folder-gate rows a change to `paths` makes stale: each path's folder, and the path if a folder."""
    folders = {os.path.dirname(p) for p in paths} | set(paths)
    return ((_enc(f),) for f in folders)


def _create_tables(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS files (path BLOB PRIMARY KEY, type TEXT, size INTEGER, mode INTEGER,"
               " uid INTEGER, gid INTEGER, inode INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, sha256 TEXT,"
               " target TEXT, hashed_at INTEGER) WITHOUT ROWID")
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS dirs (path BLOB PRIMARY KEY, gate BLOB) WITHOUT ROWID")


def _fsync(path: str) -> None:
    """One fsync after a journal-less bulk write: the file is complete before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
