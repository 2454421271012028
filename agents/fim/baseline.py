"""The integrity baseline: one row per file in SQLite, sealed with an HMAC so tampering shows.

Rows are spread over 256 buckets by a CRC of the path. Each bucket's digest is the SHA-256 of the
canonical text of its rows (sorted by path); the seal is HMAC-SHA256(key, bucket digests + count).
Checking the seal costs one pass over the rows, and a realtime update re-digests one bucket only, so
the watcher can keep the seal current in the same transaction as the row it changes (a crash never
leaves a baseline that looks tampered). The key lives outside the web root (beside the DB or in the
agent's data folder, mode 0600); without it nobody can forge a seal for edited rows.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import stat
import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple

from govwatch.errors import GovwatchError

BUCKETS = 256
SCHEMA_VERSION = "1"
_TYPES = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFIFO: "fifo",
          stat.S_IFSOCK: "socket", stat.S_IFCHR: "char", stat.S_IFBLK: "block"}


class BaselineTampered(GovwatchError):
    """The baseline's seal does not verify: someone edited it or its key."""


class FileState(NamedTuple):
    """What the baseline knows about one path; times in nanoseconds, mode without the type bits."""

    type: str
    size: int
    mode: int
    uid: int
    gid: int
    inode: int
    mtime_ns: int
    ctime_ns: int
    sha256: str | None = None
    target: str | None = None
    hashed_at: int = 0

    def gate(self) -> tuple:
        """The stat fields whose change means the content must be read again (ctime defeats `touch -d`)."""
        if self.type == "dir":
            return (self.type, self.mode, self.uid, self.gid, self.inode)
        return (self.type, self.size, self.mode, self.uid, self.gid, self.inode, self.mtime_ns, self.ctime_ns)

    def to_json(self) -> dict[str, Any]:
        """The event/CLI form: {sha256,size,mode,uid,gid,inode,mtime,ctime,type,target}."""
        return {"sha256": self.sha256, "size": self.size, "mode": f"{self.mode:04o}", "uid": self.uid,
                "gid": self.gid, "inode": self.inode, "mtime": self.mtime_ns / 1e9, "ctime": self.ctime_ns / 1e9,
                "type": self.type, "target": self.target}


def state_from_stat(st: os.stat_result, target: str | None = None) -> FileState:
    """A FileState without content hash from an lstat result."""
    kind = _TYPES.get(stat.S_IFMT(st.st_mode), "other")
    return FileState(kind, st.st_size, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_ino,
                     st.st_mtime_ns, st.st_ctime_ns, None, target)


def bucket_of(path: str) -> int:
    return zlib.crc32(os.fsencode(path)) & (BUCKETS - 1)


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


class Baseline:
    """The baseline in memory (path -> FileState) backed by a sealed SQLite file."""

    def __init__(self, db_path: str, key: bytes) -> None:
        self.db_path, self.key = db_path, key
        self.files: dict[str, FileState] = {}
        self._buckets: list[set[str]] | None = None
        self._digests: list[bytes] = [b""] * BUCKETS
        self._db: sqlite3.Connection | None = None
        self.meta: dict[str, str] = {}

    # --- reading -------------------------------------------------------------------------------
    def load(self) -> None:
        """Read every row and verify the seal; raise BaselineTampered if it does not match."""
        try:
            db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
            try:
                meta = dict(db.execute("SELECT key, value FROM meta"))
                rows = db.execute(f"SELECT {_COLUMNS} FROM files ORDER BY path").fetchall()
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise BaselineTampered(f"baseline {self.db_path} is unreadable: {exc}") from None
        self.meta = meta
        new, kinds = tuple.__new__, {k: k for k in _TYPES.values()}
        self.files = {row[0].decode("utf-8", "surrogateescape"): new(FileState, (kinds.get(row[1], row[1]), *row[2:]))
                      for row in rows}
        self._buckets = None
        if self._file_seal_ok():
            self._digests = []  # computed on the first update
            return
        self._verify_rows(rows)

    def _verify_rows(self, rows: list[tuple]) -> None:
        buckets: list[list[tuple]] = [[] for _ in range(BUCKETS)]
        crc = zlib.crc32
        for row in rows:  # rows come sorted by path, so every bucket is sorted too
            buckets[crc(row[0]) & (BUCKETS - 1)].append(row)
        self._digests = [_digest(rows) for rows in buckets]
        if not hmac.compare_digest(self._seal(), str(self.meta.get("seal", ""))):
            raise BaselineTampered(f"baseline {self.db_path} fails verification (edited without the key)")

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

    # --- sealing -------------------------------------------------------------------------------
    def _bucket_paths(self) -> list[set[str]]:
        if self._buckets is None:
            self._buckets = [set() for _ in range(BUCKETS)]
            for path in self.files:
                self._buckets[bucket_of(path)].add(path)
        return self._buckets

    def _bucket_digest(self, index: int) -> bytes:
        files = self.files
        return _digest(sorted((os.fsencode(p), *files[p]) for p in self._bucket_paths()[index]))

    def _seal(self) -> str:
        message = b"".join(self._digests) + f"{len(self.files)}\0{self.meta.get('roots', '')}".encode(
            "utf-8", "surrogateescape")
        return hmac.new(self.key, message, "sha256").hexdigest()

    # --- writing -------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            _create_tables(self._db)
        return self._db

    def write_all(self, files: dict[str, FileState], roots: Iterable[str],
                  gates: dict[str, bytes] | None = None) -> None:
        """Replace the whole baseline atomically (init): a temporary file renamed into place."""
        self.close()
        tmp = f"{self.db_path}.tmp-{os.getpid()}"
        if os.path.exists(tmp):
            os.unlink(tmp)
        db = sqlite3.connect(tmp, isolation_level=None)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        _create_tables(db)
        self.files = files  # the caller hands its walk over
        self.meta = {"roots": "\0".join(roots), "version": SCHEMA_VERSION}
        rows = sorted((p.encode("utf-8", "surrogateescape"), *s) for p, s in files.items())
        buckets: list[list[tuple]] = [[] for _ in range(BUCKETS)]
        for row in rows:
            buckets[zlib.crc32(row[0]) & (BUCKETS - 1)].append(row)
        self._digests = [_digest(rows) for rows in buckets]
        self._buckets = None
        db.execute("BEGIN")
        db.executemany("INSERT INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.executemany("INSERT INTO meta VALUES (?, ?)", [("seal", self._seal()), *self.meta.items()])
        if gates:
            db.executemany("INSERT INTO dirs VALUES (?, ?)", ((os.fsencode(p), g) for p, g in gates.items()))
        db.execute("COMMIT")
        db.close()
        _fsync(tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.db_path)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.db_path + suffix):
                os.unlink(self.db_path + suffix)
        self.write_file_seal()

    def apply(self, upserts: dict[str, FileState], deletes: Iterable[str] = ()) -> None:
        """Change some rows and re-seal, in one transaction (realtime and --update)."""
        if not self._digests:
            self._digests = [self._bucket_digest(i) for i in range(BUCKETS)]
        touched: set[int] = set()
        gone = [p for p in deletes if p in self.files]
        for path in gone:
            del self.files[path]
            index = bucket_of(path)
            self._bucket_paths()[index].discard(path)
            touched.add(index)
        for path, state in upserts.items():
            self.files[path] = state
            index = bucket_of(path)
            self._bucket_paths()[index].add(path)
            touched.add(index)
        if not touched:
            return
        for index in touched:
            self._digests[index] = self._bucket_digest(index)
        db = self._conn()
        db.execute("BEGIN")
        try:
            db.executemany("DELETE FROM files WHERE path = ?", ((os.fsencode(p),) for p in gone))
            db.executemany("DELETE FROM dirs WHERE path = ?", _folders_touched([*gone, *upserts]))
            db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                           ((os.fsencode(p), *s) for p, s in upserts.items()))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('seal', ?)", (self._seal(),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def set_gates(self, gates: dict[str, bytes]) -> None:
        """Record folder gates (see scan.folder_gate) that match the rows now in the baseline."""
        db = self._conn()
        db.executemany("INSERT OR REPLACE INTO dirs VALUES (?, ?)", ((os.fsencode(p), g) for p, g in gates.items()))

    # --- the gated re-check: the sealed file, folder gates, and only the rows of folders that moved ----
    def open_sealed(self) -> dict[str, bytes] | None:
        """If the DB file is exactly what was sealed, read its meta and folder gates (no rows) and return
        the gates; otherwise None (the caller loads and verifies every row instead)."""
        if not self._file_seal_ok():
            return None
        try:
            db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
            try:
                self.meta = dict(db.execute("SELECT key, value FROM meta"))
                gates = {p.decode("utf-8", "surrogateescape"): g for p, g in db.execute("SELECT path, gate FROM dirs")}
            finally:
                db.close()
        except sqlite3.Error:
            return None
        if self.meta.get("version") != SCHEMA_VERSION:
            return None
        return gates

    def rows(self, paths: Iterable[str], children_of: Iterable[str], subtrees: Iterable[str]) -> dict[str, FileState]:
        """Baseline rows of `paths`, of the direct children of `children_of`, and of everything under `subtrees`."""
        found: dict[str, FileState] = {}
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            one = f"SELECT {_COLUMNS} FROM files WHERE path = ?"
            for path in paths:
                _collect(found, db.execute(one, (os.fsencode(path),)))
            below = f"SELECT {_COLUMNS} FROM files WHERE path > ? AND path < ?"
            for folder, deep in [*((f, False) for f in children_of), *((f, True) for f in subtrees)]:
                prefix = os.fsencode(folder.rstrip("/")) + b"/"
                cursor = db.execute(below, (prefix, prefix[:-1] + b"0"))
                _collect(found, cursor if deep else (r for r in cursor if b"/" not in r[0][len(prefix):]))
        finally:
            db.close()
        return found

    def close(self) -> None:
        """Close the connection; SQLite checkpoints and removes the WAL when the last one closes."""
        if self._db is not None:
            self._db.close()
            self._db = None


_COLUMNS = "path, type, size, mode, uid, gid, inode, mtime_ns, ctime_ns, sha256, target, hashed_at"


def _collect(found: dict[str, FileState], rows: Iterable[tuple]) -> None:
    new = tuple.__new__
    for row in rows:
        found[row[0].decode("utf-8", "surrogateescape")] = new(FileState, row[1:])


def _folders_touched(paths: Iterable[str]) -> Iterable[tuple[bytes]]:
    """The folder-gate rows a change to `paths` makes stale: each path's folder, and the path if a folder."""
    folders = {os.path.dirname(p) for p in paths} | set(paths)
    return ((os.fsencode(f),) for f in folders)


def _digest(rows: list[tuple]) -> bytes:
    """The digest of one bucket: its rows (bytes path first, sorted) in their canonical repr."""
    return hashlib.sha256(repr(rows).encode("utf-8", "surrogateescape")).digest()


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
