"""Follow one log file across rename, copytruncate and gzip rotation, and across agent restarts.

The position is (device, inode, offset of the last complete line, sha256 of the file's first bytes).
At start a saved position is resumed when the file is still the same one (same inode, long enough, same
head); when the file was rotated meanwhile, the rotated copy (`access.log.1`, or `.1.gz`, found by its
head) is read from the saved offset first, then the new file from its start. Without a saved position the
follower starts at the end (a 10 GB log is not re-read) unless `from_start`. While running, a changed inode
means rename rotation (the old file is drained through its open descriptor first); a shrunk file or a
changed head means copytruncate (the lines between our offset and the copy are read from the copy).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import zlib
from collections.abc import Callable
from typing import Any, BinaryIO

from .lines import LineSplitter

log = logging.getLogger("govwatch.logs")
HEAD = 256
CHUNK = 1 << 20


def head_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_head(path: str, length: int) -> bytes | None:
    """The first `length` bytes of a file (decompressed when it is gzip), or None."""
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                return handle.read(length)
        with open(path, "rb") as handle:
            return handle.read(length)
    except (OSError, EOFError, zlib.error):
        return None


def rotated_candidates(path: str) -> list[str]:
    """Where logrotate puts the previous file: .1 / .1.gz / .0, or dateext names, newest first."""
    folder, name = os.path.split(path)
    names = [f"{name}.1", f"{name}.1.gz", f"{name}.0", f"{name}.0.gz"]
    try:
        dated = sorted((n for n in os.listdir(folder or ".") if n.startswith(name + "-")), reverse=True)[:4]
    except OSError:
        dated = []
    return [os.path.join(folder, n) for n in names + dated if os.path.exists(os.path.join(folder, n))]


def _valid_position(saved: object) -> bool:
    """A position as `position()` writes it (the state file is ours, but a disk or a hand may spoil it)."""
    return isinstance(saved, dict) and all(isinstance(saved.get(k), int) and not isinstance(saved.get(k), bool)
                                           and saved[k] >= 0 for k in ("dev", "ino", "offset", "head_len")) \
        and isinstance(saved.get("head"), str)


class FileFollower:
    """Reads new complete lines of one file into `on_line`; `position()` is what to save."""

    def __init__(self, path: str, on_line: Callable[[str], None], on_long: Callable[[str], None],
                 max_line: int, saved: dict[str, Any] | None = None, from_start: bool = False) -> None:
        self.path = path
        self.splitter = LineSplitter(max_line, on_line, on_long)
        self.saved, self.from_start = saved, from_start
        self.handle: BinaryIO | None = None
        self.ident: tuple[int, int] | None = None
        self.offset = 0          # bytes of the current file handed to the splitter
        self.head = b""
        self.rotations = 0
        self.truncations = 0

    # --- start --------------------------------------------------------------------------------
    def open(self) -> None:
        """Pick the start point (resume, catch up from a rotated copy, or the end) and open the file."""
        saved, self.saved = self.saved, None
        if saved is not None and not _valid_position(saved):
            log.warning("saved position of %s is malformed: starting at the end", self.path)
            saved = None
        try:
            st = os.stat(self.path)
        except OSError:
            return   # not there yet: opened at the next poll, from its start
        if saved and self._same_file(saved, st):
            self._open_at(int(saved["offset"]))
            return
        if saved:
            self._catch_up(saved)
            self._open_at(0)
            return
        self._open_at(0 if self.from_start else st.st_size, at_line_start=self.from_start)

    def _same_file(self, saved: dict[str, Any], st: os.stat_result) -> bool:
        if (saved.get("dev"), saved.get("ino")) != (st.st_dev, st.st_ino) or st.st_size < int(saved["offset"]):
            return False
        head = read_head(self.path, int(saved.get("head_len", 0)))
        return head is not None and head_hash(head) == saved.get("head")

    def _catch_up(self, saved: dict[str, Any]) -> None:
        """The file was rotated while we were stopped: read the rest of the old one from its copy."""
        length = int(saved.get("head_len", 0))
        for candidate in rotated_candidates(self.path):
            head = read_head(candidate, length)
            if head is None or head_hash(head) != saved.get("head") or length == 0:
                continue
            self._read_copy(candidate, int(saved["offset"]))
            return
        log.warning("%s was rotated while the agent was stopped and its old copy is gone: lines written "
                    "after the last saved position are lost", self.path)

    def _read_copy(self, path: str, offset: int) -> None:
        try:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as handle:  # type: ignore[operator]
                handle.seek(offset)
                while chunk := handle.read(CHUNK):
                    self.splitter.feed(chunk)
        except (OSError, EOFError, zlib.error) as exc:
            log.warning("cannot read rotated copy %s: %s", path, exc)
        self.splitter.flush()

    def _open_at(self, offset: int, at_line_start: bool = True) -> None:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - kept open across polls
        except OSError as exc:
            log.warning("cannot open %s: %s", self.path, exc)
            return
        st = os.fstat(handle.fileno())
        self.handle, self.ident = handle, (st.st_dev, st.st_ino)
        handle.seek(offset)
        self.offset = offset
        self.head = b""
        self._refresh_head()
        if not at_line_start and offset > 0 and os.pread(handle.fileno(), 1, offset - 1) != b"\n":
            self.splitter.skipping = True   # started at the end of a half-written line: its rest is not ours

    def _refresh_head(self) -> None:
        if len(self.head) < HEAD and self.handle is not None:
            self.head = os.pread(self.handle.fileno(), HEAD, 0)

    # --- running ------------------------------------------------------------------------------
    def poll(self) -> None:
        """Read what was appended; notice rotation and truncation."""
        if self.handle is None:
            if os.path.exists(self.path):
                self._open_at(0)
            if self.handle is None:
                return
        try:
            st = os.stat(self.path)
        except OSError:
            self._drain()   # renamed away and not recreated yet: keep reading the old file
            return
        if (st.st_dev, st.st_ino) != self.ident:
            self._drain()
            self.splitter.flush()
            self._close()
            self.rotations += 1
            self._open_at(0)
        elif st.st_size < self.offset or not self._head_unchanged():
            self.truncations += 1   # checked before reading: what is past our offset now is not the old file
            self._copytruncated()
        self._drain()

    def _head_unchanged(self) -> bool:
        assert self.handle is not None
        now = os.pread(self.handle.fileno(), len(self.head), 0)
        if now != self.head:
            return False
        self._refresh_head()
        return True

    def _copytruncated(self) -> None:
        """copytruncate: the copy holds the lines between our offset and the truncation."""
        old_head, old_offset = self.head, self.offset
        for candidate in rotated_candidates(self.path):
            head = read_head(candidate, len(old_head))
            if old_head and head == old_head:
                self._read_copy(candidate, old_offset)
                break
        self.splitter.pending, self.splitter.skipping = b"", False
        assert self.handle is not None
        self.handle.seek(0)
        self.offset, self.head = 0, b""
        self._refresh_head()
        self._drain()

    def _drain(self) -> None:
        handle = self.handle
        if handle is None:
            return
        while chunk := handle.read(CHUNK):
            self.offset += len(chunk)
            self.splitter.feed(chunk)
        self._refresh_head()

    def _close(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.handle = None

    def close(self) -> None:
        self._close()

    def position(self) -> dict[str, Any] | None:
        """Where a restart resumes: the end of the last complete line handed out."""
        if self.ident is None:
            return None
        committed = self.offset - len(self.splitter.pending)
        head = self.head[:min(len(self.head), committed)] if committed < len(self.head) else self.head
        return {"dev": self.ident[0], "ino": self.ident[1], "offset": committed, "head": head_hash(head),
                "head_len": len(head)}
