"""The gated re-check behind `govwatch fim scan`: compare folders by one digest, rows only where one moved.

A baseline written by --init stores, per folder, `folder_gate`: a digest of its entries' stat gates.
The re-check walks the tree (one lstat per entry, as AIDE does), computes the same digest per folder
and, where it matches, makes no per-file object at all and reads no row. Only folders whose digest
moved (or that are new, unreadable or gone) have their entries turned into FileStates and their
baseline rows read; `scan.compare` then classifies exactly those, as it would on the whole tree.
This is only used when the DB file is byte for byte what was sealed (`Baseline.open_sealed`), so the
gates cannot have been edited.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from govwatch.agents.fim.baseline import _TYPES as _TYPE_BITS
from govwatch.agents.fim.baseline import Baseline, FileState
from govwatch.agents.fim.scan import Problem, folder_gate, lstat_state, open_folder


class GatedWalk:
    """The result of walking roots against stored folder gates."""

    def __init__(self, gates: dict[str, bytes]) -> None:
        self.gates = gates
        self.current: dict[str, FileState] = {}  # entries of the folders that moved, and the roots
        self.moved: list[str] = []  # folders whose entries must be compared one by one
        self.visited: set[str] = set()
        self.entries = 0
        self.fresh_gates: dict[str, bytes] = {}  # gates of the moved folders as they are now

    def run(self, roots: list[str], excluded: Callable[[str], bool], problems: list[Problem]) -> None:
        for root in roots:
            state = lstat_state(root)
            if state is None:
                continue
            self.current[root] = state
            self.entries += 1
            if state.type == "dir":
                self._walk(root, state.inode, excluded, problems)

    def _walk(self, top: str, inode: int, excluded: Callable[[str], bool], problems: list[Problem]) -> None:
        """Folders are listed through descriptors opened beneath `top` (see scan._walk_dir)."""
        gates, visited, no_excludes = self.gates, self.visited, not getattr(excluded, "patterns", 1)
        stack: list[tuple[str, int | None]] = [(top, inode)]
        while stack:
            folder, expected = stack.pop()
            visited.add(folder)
            listed: list[tuple[str, os.stat_result, str | None]] = []
            records: list[tuple] = []
            fd = None
            try:
                fd = open_folder(top, folder, expected)
                self._list(fd, folder.rstrip("/") + "/", excluded if not no_excludes else None, listed, records,
                           stack)
            except OSError as exc:   # gone (moved meanwhile) or unreadable: the folder is looked at again later
                if not isinstance(exc, FileNotFoundError):
                    problems.append(Problem(folder, f"cannot list folder: {exc.strerror}"))
                self.moved.append(folder)
                continue
            finally:
                if fd is not None:
                    os.close(fd)
            self.entries += len(listed)
            gate = folder_gate(records)
            if gates.get(folder) != gate:
                self.moved.append(folder)
                self.fresh_gates[folder] = gate
                self._states(listed)

    @staticmethod
    def _list(fd: int, prefix: str, excluded: Callable[[str], bool] | None,
              listed: list[tuple[str, os.stat_result, str | None]], records: list[tuple], stack: list) -> None:
        with os.scandir(fd) as entries:
            for entry in entries:
                path = prefix + entry.name
                if excluded is not None and excluded(path):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                    target = os.readlink(entry.name, dir_fd=fd) if stat.S_ISLNK(st.st_mode) else None
                except FileNotFoundError:
                    continue
                listed.append((path, st, target))
                if stat.S_ISDIR(st.st_mode):
                    stack.append((path, st.st_ino))
                    records.append((entry.name, st.st_mode, 0, st.st_uid, st.st_gid, st.st_ino, 0, 0))
                else:
                    records.append((entry.name, st.st_mode, st.st_size, st.st_uid, st.st_gid, st.st_ino,
                                    st.st_mtime_ns, st.st_ctime_ns))

    def _states(self, listed: list[tuple[str, os.stat_result, str | None]]) -> None:
        new, types, current = tuple.__new__, _TYPE_BITS.get, self.current
        for path, st, target in listed:
            kind = types(st.st_mode & 0o170000, "other")
            current[path] = new(FileState, (kind, st.st_size, st.st_mode & 0o7777, st.st_uid, st.st_gid,
                                            st.st_ino, st.st_mtime_ns, st.st_ctime_ns, None, target, 0))

    def baseline_rows(self, baseline: Baseline, roots: list[str]) -> dict[str, FileState]:
        """The baseline rows the moved folders need: their children, and whole subtrees no longer walked."""
        old = baseline.rows(roots, self.moved, ())
        gone = [p for p, s in old.items() if s.type == "dir" and p not in self.visited]
        if gone:
            old.update(baseline.rows((), (), gone))
        return old
