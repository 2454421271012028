"""Walking, hashing and comparing trees: the engine under both `fim scan` and the realtime watcher.

Speed comes from three habits: the walk uses `os.scandir` and one `lstat` per entry; content is read
only when the stat gate (size, mtime, ctime, inode, mode, owner, type) moved; and hashing runs in a
thread pool (hashlib releases the GIL), in chunks of files so the pool's overhead stays small.
Symlinks are recorded with their target and never followed; other special files by metadata only.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import pickle
import queue
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from govwatch.agents.fim.baseline import _TYPES as _TYPE_BITS
from govwatch.agents.fim.baseline import FileState, state_from_stat
from govwatch.agents.fim.beneath import Roots, lstat_beneath, open_beneath, open_root
from govwatch.agents.fim.hashing import hash_file

EARLY_SIZE = 1 << 20  # files at least this large are hashed during the walk (mostly without the GIL)


class Change(NamedTuple):
    """One logical change of one path."""

    path: str
    change: str  # created | modified | deleted | attributes
    before: FileState | None
    after: FileState | None
    old_path: str | None = None


class Problem(NamedTuple):
    """A path that could not be read (reported once, never fatal)."""

    path: str
    detail: str


class Excluder:
    """Glob patterns on the full path or the base name (`*.log`, `/var/www/html/cache/*`)."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns = [p.rstrip("/") for p in patterns]

    def __call__(self, path: str) -> bool:
        if not self.patterns:
            return False
        name = os.path.basename(path)
        return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(name, p) for p in self.patterns)


def lstat_state(path: str, root: str | None = None) -> FileState | None:
    """The current metadata of `path` without following a symlink, or None if it is gone.

    With `root`, `path` is looked up as an entry of that tree (no symlink on the way, see beneath.py):
    a path whose folder was swapped for a symlink is not in the tree, so None."""
    if root is not None:
        found = lstat_beneath(root, path)
        return None if found is None else state_from_stat(*found)
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
    return state_from_stat(st, target)


def walk(roots: Iterable[str], excluded: Callable[[str], bool] = Excluder(),
         problems: list[Problem] | None = None, gates: dict[str, bytes] | None = None,
         early: Hasher | None = None) -> dict[str, FileState]:
    """Every entry under the roots (roots included), by lstat; symlinked folders are not entered.

    With `gates`, also fill folder -> `folder_gate` of its entries (what a later re-check compares).
    With `early`, large files are handed to that Hasher as they are found (hashed while the walk goes on).
    """
    found: dict[str, FileState] = {}
    for root in roots:
        state = lstat_state(root)
        if state is None:
            continue
        found[root] = state
        if state.type == "dir":
            for _folder in _walk_dir(root, found, excluded, problems, gates, early.early if early else None):
                pass
    return found


def walk_batches(roots: Iterable[str], excluded: Callable[[str], bool], problems: list[Problem],
                 gates: dict[str, bytes], size: int = 2048) -> Iterator[dict[str, FileState]]:
    """`walk` in batches of about `size` entries (whole folders), so a baseline of any size is built in
    bounded memory. Each batch is the same dict, cleared after the consumer is done with it."""
    found: dict[str, FileState] = {}
    for root in roots:
        state = lstat_state(root)
        if state is None:
            continue
        found[root] = state
        if state.type == "dir":
            for _folder in _walk_dir(root, found, excluded, problems, gates):
                if len(found) >= size:
                    yield found
                    found.clear()
    if found:
        yield found


def folder_gate(records: list[tuple]) -> bytes:
    """A digest of the stat gates of one folder's entries: equal digests mean no entry needs a look.

    `records` are (name, st_mode, size, uid, gid, inode, mtime_ns, ctime_ns), with size and times 0
    for sub-folders (their times move with every entry; their own entries are gated in their own record).
    """
    records.sort()  # pickled (4x faster than repr); names are distinct objects, so no memo makes it vary
    return hashlib.blake2b(pickle.dumps(records, 4), digest_size=16).digest()


def _walk_dir(top: str, found: dict[str, FileState], excluded: Callable[[str], bool],
              problems: list[Problem] | None, gates: dict[str, bytes] | None = None,
              early: Callable[[str, int, int], None] | None = None) -> Iterator[str]:
    # The hot loop of every scan: FileStates are built with tuple.__new__ (C speed), not field by field.
    # Each folder is listed through a descriptor opened beneath `top` and checked to be the inode its
    # parent listed, and entries are stat'ed relative to it: a folder swapped for a symlink mid-walk is
    # never entered (its names, sizes and content stay unread).
    new, types, readlink, no_excludes = tuple.__new__, _TYPE_BITS.get, os.readlink, not getattr(excluded, "patterns", 1)
    stack: list[tuple[str, int | None]] = [(top, found[top].inode if top in found else None)]
    while stack:
        folder, inode = stack.pop()
        records: list[tuple] = []
        prefix = folder.rstrip("/") + "/"
        try:
            fd = open_folder(top, folder, inode)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if problems is not None:
                problems.append(Problem(folder, f"cannot list folder: {exc.strerror}"))
            continue
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    path = prefix + name
                    if not no_excludes and excluded(path):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                        mode = st.st_mode
                        kind = types(mode & 0o170000, "other")
                        found[path] = new(FileState, (kind, st.st_size, mode & 0o7777, st.st_uid, st.st_gid, st.st_ino,
                                                      st.st_mtime_ns, st.st_ctime_ns, None,
                                                      readlink(name, dir_fd=fd) if kind == "symlink" else None, 0))
                    except FileNotFoundError:
                        continue
                    if kind == "dir":
                        stack.append((path, st.st_ino))
                        records.append((name, mode, 0, st.st_uid, st.st_gid, st.st_ino, 0, 0))
                    else:
                        if early is not None and st.st_size >= EARLY_SIZE and kind == "file":
                            early(path, st.st_size, st.st_ino)
                        records.append((name, mode, st.st_size, st.st_uid, st.st_gid, st.st_ino,
                                        st.st_mtime_ns, st.st_ctime_ns))
        except FileNotFoundError:
            continue
        except OSError as exc:
            if problems is not None:
                problems.append(Problem(folder, f"cannot list folder: {exc.strerror}"))
            continue
        finally:
            os.close(fd)
        if gates is not None:
            gates[folder] = folder_gate(records)
        yield folder


def open_folder(top: str, folder: str, inode: int | None) -> int:
    """A descriptor of `folder` opened beneath `top`, checked to be the inode seen when it was listed."""
    fd = open_root(top) if folder == top else open_beneath(top, folder, os.O_RDONLY | os.O_DIRECTORY)
    if inode is not None and os.fstat(fd).st_ino != inode:
        os.close(fd)
        raise FileNotFoundError(folder)  # replaced since it was listed: the next look sees the new one
    return fd


class Hasher:
    """Fills in sha256 for many files with threads; unreadable files become Problems.

    Files are sorted by size: helper threads take the largest from one end (hashing them mostly
    without the GIL) while the calling thread takes the smallest from the other, so per-file Python
    work and bulk hashing overlap instead of fighting for the GIL.
    """

    def __init__(self, workers: int | None = None, max_hash_size: int | None = None,
                 clock: Callable[[], float] = time.time, roots: Iterable[str] | None = None) -> None:
        self.workers = workers or max(2, os.cpu_count() or 2)
        self.roots = Roots(list(roots)) if roots is not None else None  # reads stay beneath these
        self._inodes: dict[str, int] = {}
        self.max_hash_size = max_hash_size
        self.clock = clock
        self.files_hashed = 0
        self.done = 0  # files looked at so far, for progress display only (updated without a lock)
        self._sizes: dict[str, int] = {}
        self._early: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._early_results: list[tuple[str, str | None, str | None]] = []
        self._early_thread: threading.Thread | None = None

    def early(self, path: str, size: int, inode: int | None = None) -> None:
        """Hash this large file now, on a helper thread, while the caller keeps walking."""
        self._sizes[path] = size
        if inode is not None:
            self._inodes[path] = inode
        self._early.put(path)
        if self._early_thread is None:
            self._early_thread = threading.Thread(target=self._early_loop, daemon=True, name="fim-hash-early")
            self._early_thread.start()

    def _early_loop(self) -> None:
        take, append = self._early.get, self._early_results.append
        while (path := take()) is not None:
            self._hash_one(path, append)

    def _stop_early(self) -> list[tuple[str, str | None, str | None]]:
        """End the early thread (after its current file); its unhashed files go back to the main pass."""
        results, self._early_results = self._early_results, []
        if self._early_thread is not None:
            while True:
                try:
                    self._early.get_nowait()  # left for the main pass, largest first as usual
                except queue.Empty:
                    break
            self._early.put(None)
            self._early_thread.join()
            self._early_thread = None
        return results

    def fill(self, states: dict[str, FileState], paths: list[str], problems: list[Problem]) -> None:
        """Hash `paths` (regular files in `states`) in place; drop a file that vanished meanwhile."""
        results = self._stop_early()
        done = {r[0] for r in results}
        paths = sorted((p for p in paths if states[p].type == "file" and p not in done),
                       key=lambda p: states[p].size, reverse=True)
        now = int(self.clock())
        self._sizes = {p: states[p].size for p in paths}  # known from the walk: no fstat per file
        self._inodes = {p: states[p].inode for p in paths}
        pending = deque(paths)
        helpers = [threading.Thread(target=self._drain, args=(pending, pending.popleft, results), daemon=True,
                                    name="fim-hash") for _ in range(min(self.workers - 1, len(paths) // 32))]
        for helper in helpers:
            helper.start()
        if paths:
            self._drain(pending, pending.pop, results)
        for helper in helpers:
            helper.join()
        new = tuple.__new__
        for path, digest, error in results:
            if error is None:
                state = states[path]  # below: _replace(sha256=digest, hashed_at=now) at C speed
                states[path] = new(FileState, (*state[:8], digest, state[9], now))
                self.files_hashed += 1
            elif error == "gone":
                states.pop(path, None)
            else:
                problems.append(Problem(path, error))

    def _drain(self, pending: deque, take: Callable[[], str], results: list) -> None:
        append = results.append
        while True:
            try:
                path = take()
            except IndexError:
                return
            self._hash_one(path, append)

    def _hash_one(self, path: str, append: Callable[[tuple], None]) -> None:
        limit, sizes = self.max_hash_size, self._sizes
        self.done += 1
        if limit is not None and sizes.get(path, 0) > limit:
            append((path, None, None))  # metadata only; no need to open it
            return
        try:
            root = self.roots.root_of(path) if self.roots is not None else None
            digest = hash_file(path, limit if path not in sizes else None, root=root, inode=self._inodes.get(path))[0]
            append((path, digest, None))
        except FileNotFoundError:
            append((path, None, "gone"))
        except OSError as exc:
            append((path, None, f"cannot read: {exc.strerror}"))


def classify(before: FileState | None, after: FileState | None) -> str | None:
    """The one change kind between two states of a path, or None when nothing a user cares about moved.

    Content (type, hash, size, link target) -> modified; owner, mode or inode only -> attributes; times
    alone (a `touch` with the same content) are not a change.
    """
    if before is None:
        return None if after is None else "created"
    if after is None:
        return "deleted"
    if before.type != after.type or before.target != after.target:
        return "modified"
    if before.type == "file" and (before.size != after.size or before.sha256 != after.sha256):
        return "modified"
    if (before.mode, before.uid, before.gid, before.inode) != (after.mode, after.uid, after.gid, after.inode):
        return "attributes"
    return None


def under(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def compare(old: dict[str, FileState], new: dict[str, FileState], roots: list[str],
            hasher: Hasher, problems: list[Problem], old_roots: list[str] | None = None) -> list[Change]:
    """Changes from `old` (baseline) to `new` (a fresh walk, hashed here only where the gate moved)."""
    covered = old_roots is not None and all(under(r, roots) for r in old_roots)
    scope = old if covered else {p: s for p, s in old.items() if under(p, roots)}
    stale = []
    for path, state in new.items():
        known = scope.get(path)
        if known is not None and (known[:8] == state[:8] if state[0] != "dir" else known.gate() == state.gate()):
            new[path] = known  # unchanged by stat: keep its hash, never read the content
        else:
            stale.append(path)
    hasher.fill(new, stale, problems)
    unreadable = {p.path for p in problems}
    for path in stale:
        if path in new and path in unreadable and path in scope:
            new[path] = new[path]._replace(sha256=scope[path].sha256)  # reported as a problem instead
    changes = []
    for path in sorted(set(stale).union(scope.keys() - new.keys())):
        kind = classify(scope.get(path), new.get(path))
        if kind:
            changes.append(Change(path, kind, scope.get(path), new.get(path)))
    return pair_renames(changes)


def pair_renames(changes: list[Change]) -> list[Change]:
    """Mark a created path as a rename of a deleted one when inode and content are the same."""
    deleted = {(c.before.inode, c.before.sha256): c.path for c in changes if c.change == "deleted" and c.before}
    if not deleted:
        return changes
    out = []
    for c in changes:
        if c.change == "created" and c.after is not None:
            old = deleted.get((c.after.inode, c.after.sha256))
            if old is not None:
                c = c._replace(old_path=old)
        out.append(c)
    return out
