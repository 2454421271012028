"""Reading one file's content: SHA-256 in streaming, and the content itself when it is small.

Kept apart from the walk (scan.py): this is where the agent's read-everything privilege is used, so every
open goes through beneath.py when the watched root is known, and the opened file is checked to be the
inode that was scanned before a byte is read.
"""

from __future__ import annotations

import hashlib
import os
import threading

from govwatch.agents.fim.beneath import check_same, open_beneath

READ_CHUNK = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK
_NOATIME = getattr(os, "O_NOATIME", 0)


def hash_file(path: str, max_hash_size: int | None = None, keep: int = 0, root: str | None = None,
              inode: int | None = None) -> tuple[str | None, bytes | None]:
    """SHA-256 of a regular file read in streaming, and its content when it is at most `keep` bytes.

    Files above `max_hash_size` are tracked by metadata only (sha256 None). With `root`, the file is
    opened from the root's descriptor with no symlink on any component (beneath.py) and must still be
    the inode scanned, so a folder swapped for a symlink never leads the read outside the tree. Never
    blocks on a FIFO swapped in. Raises OSError if unreadable, FileNotFoundError if gone or outside.
    """
    fd = _open_file(path, root)
    try:
        st = check_same(fd, inode)
        if max_hash_size is not None and st.st_size > max_hash_size:
            return None, None
        return _digest(fd, keep)
    finally:
        os.close(fd)


def _open_file(path: str, root: str | None) -> int:
    opener = (lambda flags: open_beneath(root, path, flags)) if root is not None else (lambda f: os.open(path, f))
    try:
        return opener(_OPEN_FLAGS | _NOATIME)
    except PermissionError:
        if not _NOATIME:
            raise
        return opener(_OPEN_FLAGS)  # O_NOATIME needs ownership (or CAP_FOWNER)


def _digest(fd: int, keep: int) -> tuple[str, bytes | None]:
    digest = hashlib.sha256()
    buffer = _buffer()
    view, size = memoryview(buffer), len(buffer)
    kept: list[bytes] | None = [] if keep else None
    total = 0
    while count := os.readv(fd, [buffer]):
        digest.update(view[:count])
        total += count
        if kept is not None:
            kept = None if total > keep else kept + [bytes(view[:count])]
        if count < size:  # a short read of a regular file is its end
            break
    return digest.hexdigest(), (b"".join(kept) if kept is not None else None)


_local = threading.local()


def _buffer() -> bytearray:
    """One reusable read buffer per thread: no 1 MiB allocation (and page faults) per file."""
    buffer = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(READ_CHUNK)
    return buffer
