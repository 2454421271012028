"""What the baseline knows about one path (FileState), and the mapping view over the baseline's rows."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, MutableMapping
from typing import Any, NamedTuple

from govwatch.agents.paths import with_raw

_TYPES = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFIFO: "fifo",
          stat.S_IFSOCK: "socket", stat.S_IFCHR: "char", stat.S_IFBLK: "block"}


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
        """The event/CLI form: {sha256,size,mode,uid,gid,inode,mtime,ctime,type,target[,target_b64]}."""
        out = {"sha256": self.sha256, "size": self.size, "mode": f"{self.mode:04o}", "uid": self.uid,
               "gid": self.gid, "inode": self.inode, "mtime": self.mtime_ns / 1e9, "ctime": self.ctime_ns / 1e9,
               "type": self.type}
        with_raw(out, "target", self.target)  # a symlink target is bytes too
        return out


def state_from_stat(st: os.stat_result, target: str | None = None) -> FileState:
    """A FileState without content hash from an lstat result."""
    kind = _TYPES.get(stat.S_IFMT(st.st_mode), "other")
    return FileState(kind, st.st_size, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_ino,
                     st.st_mtime_ns, st.st_ctime_ns, None, target)


class FileTable(MutableMapping):
    """`baseline.files`: the rows as a mapping path -> FileState, read from and written to SQLite."""

    def __init__(self, baseline: Any) -> None:
        self._baseline = baseline

    def get(self, path: str, default: Any = None) -> Any:
        state = self._baseline.get(path)
        return default if state is None else state

    def __getitem__(self, path: str) -> FileState:
        state = self._baseline.get(path)
        if state is None:
            raise KeyError(path)
        return state

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._baseline.get(path) is not None

    def __setitem__(self, path: str, state: FileState) -> None:
        self._baseline.apply({path: state})

    def __delitem__(self, path: str) -> None:
        if path not in self:
            raise KeyError(path)
        self._baseline.apply({}, [path])

    def __len__(self) -> int:
        return self._baseline.count

    def __iter__(self) -> Iterator[str]:
        return (path for path, _state in self._baseline.states())
