"""What an analyst needs to act on a change: web-shell markers, a bounded diff, and known-good copies.

The known-good store keeps content-addressed copies (blobs named by SHA-256) of web-root files plus an
index of versions per path. A version is *trusted* when it came from a baseline or from a change the
rules did not rate high or critical; `restore` puts back the newest trusted version that differs from
what is on disk now, so a second defacement never becomes the "good" copy.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from govwatch.agents.fim.baseline import WAL_LIMIT, FileState, checkpoint_if_big, checkpoint_wal
from govwatch.agents.fim.scan import hash_file
from govwatch.errors import GovwatchError

# name -> pattern over raw bytes; names land in the event (`webshell_markers`) and in rule records.
MARKERS: dict[str, re.Pattern[bytes]] = {
    "eval_decode": re.compile(rb"(?:eval|assert)\s*\(\s*@?\s*(?:base64_decode|gzinflate|gzuncompress|str_rot13)\s*\(",
                              re.I),
    "eval_request": re.compile(rb"(?:eval|assert|create_function)\s*\(\s*@?\s*\$_(?:GET|POST|REQUEST|COOKIE)", re.I),
    "exec_request": re.compile(rb"(?:system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec)\s*\(\s*@?\s*"
                               rb"\$_(?:GET|POST|REQUEST|COOKIE)", re.I),
    "preg_replace_e": re.compile(rb"preg_replace\s*\(\s*['\"]([^\w\s\\])(?:(?!\1).)*\1[a-zA-Z]*e[a-zA-Z]*['\"]", re.S),
    "variable_function_request": re.compile(rb"\$\w+\s*\(\s*\$_(?:GET|POST|REQUEST|COOKIE)\s*\["),
    "backtick_request": re.compile(rb"`\s*\$_(?:GET|POST|REQUEST)"),
    "decode_chain": re.compile(rb"(?:gzinflate|gzuncompress|str_rot13)\s*\(\s*base64_decode\s*\(", re.I),
    "jsp_exec_param": re.compile(rb"getRuntime\(\)\s*\.exec\s*\(\s*request\.getParameter"),
    "asp_eval_request": re.compile(rb"(?:eval|execute)\s*\(?\s*request\s*[\(\.\[]", re.I),
    "known_shell_name": re.compile(rb"FilesMan|c99shell|r57shell|b374k|Weevely|WSO\s+\d\.\d"),
}
DEFAULT_NODIFF = ("*.env", ".env*", "wp-config.php", "*config*.php", "*.key", "*.pem", "*.p12", "*.pfx",
                  "id_rsa*", "*.htpasswd", ".git-credentials", "*secret*", "*password*", "*.sqlite", "*.db")


def webshell_markers(content: bytes | None) -> list[str]:
    """Names of web-shell markers found in the content (empty when unknown or clean)."""
    if not content:
        return []
    return [name for name, pattern in MARKERS.items() if pattern.search(content)]


def withheld(path: str, patterns: tuple[str, ...] | list[str] = DEFAULT_NODIFF) -> bool:
    """True for files whose content must never travel in an event (secrets)."""
    name = os.path.basename(path)
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(path, p) for p in patterns)


def _text(content: bytes | None) -> list[str] | None:
    if content is None or b"\0" in content[:8192]:
        return None
    return content.decode("utf-8", "replace").splitlines(keepends=True)


def bounded_diff(old: bytes | None, new: bytes | None, path: str, max_bytes: int = 16384) -> str | None:
    """A unified diff of two text contents, cut at `max_bytes`; None when either side is not text."""
    before, after = _text(old if old is not None else b""), _text(new if new is not None else b"")
    if before is None or after is None:
        return None
    out, size = [], 0
    for line in difflib.unified_diff(before, after, f"a{path}", f"b{path}", n=2):
        line = line if line.endswith("\n") else line + "\n"
        if size + len(line) > max_bytes:
            out.append(f"... diff truncated at {max_bytes} bytes\n")
            break
        out.append(line)
        size += len(line)
    return "".join(out) or None


class KnownGoodStore:
    """Content-addressed copies of files, bounded in total size, with a version index per path."""

    def __init__(self, folder: str, max_total: int = 512 * 2**20, max_file: int = 4 * 2**20,
                 clock: Any = time.time) -> None:
        self.folder, self.max_total, self.max_file, self.clock = folder, max_total, max_file, clock
        os.makedirs(os.path.join(folder, "blobs"), mode=0o700, exist_ok=True)
        self._db = sqlite3.connect(os.path.join(folder, "index.db"), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a lost last copy is re-made; no fsync per event
        self._db.execute("PRAGMA cache_size=-512")  # an index read by key: keep the agent small
        self._db.execute("PRAGMA wal_autocheckpoint=0")  # the watcher's scan loop calls checkpoint()
        self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        self._writes = 0
        self._db.execute("CREATE TABLE IF NOT EXISTS versions (path BLOB, sha256 TEXT, size INTEGER, mode INTEGER,"
                         " uid INTEGER, gid INTEGER, seen_at REAL, trusted INTEGER, PRIMARY KEY (path, sha256))")
        self.skipped = 0
        self.total_bytes = self._total()

    def _blob(self, sha: str) -> str:
        return os.path.join(self.folder, "blobs", sha[:2], sha)

    def remember(self, path: str, state: FileState, trusted: bool, content: bytes | None = None,
                 root: str | None = None) -> bool:
        """Keep a copy of `path` as `state` describes it; False if too big or no longer that content.

        When the content must be read here, it is read beneath `root` (beneath.py) and must still be the
        scanned inode, so a file outside the watched tree never enters the store."""
        if state.type != "file" or state.sha256 is None or state.size > self.max_file:
            return False
        blob = self._blob(state.sha256)
        if not os.path.exists(blob):
            if content is None:
                try:
                    digest, content = hash_file(path, keep=self.max_file, root=root, inode=state.inode)
                except OSError:
                    return False
                if digest != state.sha256 or content is None:
                    return False  # it changed again meanwhile; the next event will carry it
            if self.total_bytes + len(content) > self.max_total and not self._evict(len(content)):
                self.skipped += 1
                return False
            if not _room_for(self.folder, len(content)):
                self.skipped += 1
                return False
            _write_atomic(blob, content, 0o600)
            self.total_bytes += len(content)
        self._db.execute("INSERT INTO versions VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(path, sha256) DO UPDATE SET"
                         " seen_at = excluded.seen_at, trusted = max(trusted, excluded.trusted)",
                         (os.fsencode(path), state.sha256, state.size, state.mode, state.uid, state.gid,
                          self.clock(), int(trusted)))
        self._writes += 1
        if self._writes % 64 == 0 and not self._db.in_transaction:
            checkpoint_if_big(os.path.join(self.folder, "index.db"))
        return True

    def remember_many(self, items: list[tuple[str, FileState]],
                      root_of: Callable[[str], str | None] | None = None) -> int:
        """Keep trusted copies of many files in one transaction (after a fresh baseline); return how many."""
        kept = 0
        self._db.execute("BEGIN")
        try:
            for path, state in items:
                kept += self.remember(path, state, trusted=True, root=root_of(path) if root_of else None)
        finally:
            self._db.execute("COMMIT")
        return kept

    def content(self, sha: str) -> bytes | None:
        try:
            with open(self._blob(sha), "rb") as handle:
                return handle.read()
        except OSError:
            return None

    def has_copy(self, path: str) -> bool:
        row = self._db.execute("SELECT 1 FROM versions WHERE path = ? AND trusted = 1 LIMIT 1",
                               (os.fsencode(path),)).fetchone()
        return row is not None

    def versions(self, path: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT sha256, size, mode, uid, gid, seen_at, trusted FROM versions WHERE path = ?"
                                " ORDER BY seen_at DESC", (os.fsencode(path),)).fetchall()
        return [{"sha256": r[0], "size": r[1], "mode": f"{r[2]:04o}", "uid": r[3], "gid": r[4], "seen_at": r[5],
                 "trusted": bool(r[6])} for r in rows]

    def _total(self) -> int:
        return int(self._db.execute("SELECT coalesce(sum(size), 0) FROM (SELECT DISTINCT sha256, size FROM versions)")
                   .fetchone()[0])

    def _evict(self, need: int) -> bool:
        """Drop the oldest versions that are not some path's newest trusted copy until `need` bytes fit."""
        keep = self._db.execute("SELECT path, sha256 FROM versions v WHERE trusted = 1 AND seen_at = (SELECT"
                                " max(seen_at) FROM versions w WHERE w.path = v.path AND w.trusted = 1)").fetchall()
        protected = set(keep)
        for path, sha in self._db.execute("SELECT path, sha256 FROM versions ORDER BY seen_at").fetchall():
            if self.total_bytes + need <= self.max_total:
                return True
            if (path, sha) in protected:
                continue
            self._db.execute("DELETE FROM versions WHERE path = ? AND sha256 = ?", (path, sha))
            if not self._db.execute("SELECT 1 FROM versions WHERE sha256 = ?", (sha,)).fetchone():
                try:
                    self.total_bytes -= os.path.getsize(self._blob(sha))
                    os.unlink(self._blob(sha))
                except FileNotFoundError:
                    pass
        return self.total_bytes + need <= self.max_total

    def checkpoint(self) -> None:
        """Copy the WAL into the index off the event path (see Baseline.checkpoint)."""
        checkpoint_wal(os.path.join(self.folder, "index.db"))

    def close(self) -> None:
        self._db.close()


RESERVE_MAX, RESERVE_SHARE = 64 * 2**20, 0.2


def _room_for(folder: str, size: int) -> bool:
    """Copies never take the last free space of the agent's disk: the spool (the events) needs it first.
    The reserve is 20% of the file system, at most 64 MiB."""
    try:
        fs = os.statvfs(folder)
    except OSError:
        return True
    reserve = min(RESERVE_MAX, fs.f_blocks * fs.f_frsize * RESERVE_SHARE)
    return fs.f_bavail * fs.f_frsize - size - 8192 >= reserve


def _write_atomic(path: str, content: bytes, mode: int) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    # a hidden name: the watcher gives dot-files a moment, so this temporary copy makes no event of its own
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.gw-tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.replace(tmp, path)


def restore(store: KnownGoodStore, path: str, sha: str | None = None) -> str:
    """Put the newest trusted copy (or version `sha`) back at `path`; return what was done, for the user."""
    current = None
    if os.path.lexists(path) and not os.path.islink(path) and os.path.isfile(path):
        current = hash_file(path)[0]
    versions = [v for v in store.versions(path) if (v["sha256"] == sha if sha else v["trusted"])]
    candidates = [v for v in versions if sha or v["sha256"] != current]
    if not candidates:
        if versions and not sha:
            return f"{path}: already the known-good copy (sha256 {current}), nothing to do"
        raise GovwatchError(f"{path}: no known-good copy" + (f" with sha256 {sha}" if sha else ""))
    version = candidates[0]
    content = store.content(version["sha256"])
    if content is None:
        raise GovwatchError(f"{path}: the known-good copy {version['sha256']} is missing from the store")
    if os.path.islink(path):
        os.unlink(path)  # never write through a symlink an intruder planted
    _write_atomic(path, content, int(version["mode"], 8))
    try:
        os.chown(path, version["uid"], version["gid"])
    except PermissionError:
        pass
    os.chmod(path, int(version["mode"], 8))
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(version["seen_at"]))
    return (f"restored {path} from known-good copy sha256 {version['sha256']} ({version['size']} bytes, "
            f"kept {when}); was {'sha256 ' + current if current else 'missing'}")
