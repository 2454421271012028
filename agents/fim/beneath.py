"""Opening paths under a watched root without ever leaving it: no symlink, no `..`, on any component.

The agent runs with the right to read every file. A path it was told about (`web/d/shadow`) is only a
name: between the scan and the read, an intruder who can write `web/` can rename `d` and put a symlink
to a root-only folder in its place. A plain `open()` (even with O_NOFOLLOW, which guards only the last
component) would then read the root-only file. So every read under a tree is resolved from the root's
own descriptor: with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel has it (Linux
5.6+, one system call), else one `openat(O_NOFOLLOW)` per component. A path whose folders are no
longer real folders of the tree is, for the watcher, simply not there (FileNotFoundError).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
import struct

_RESOLVE_NO_XDEV, _RESOLVE_NO_MAGICLINKS, _RESOLVE_NO_SYMLINKS, _RESOLVE_BENEATH = 0x01, 0x02, 0x04, 0x08
_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437, "armv7l": 437, "riscv64": 437}.get(platform.machine())
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ESCAPES = {errno.ELOOP, errno.ENOTDIR, errno.EXDEV}  # a symlink or a non-folder on the way: not in the tree
_libc = None
_openat2_ok = _SYS_OPENAT2 is not None


class OutsideTree(FileNotFoundError):
    """The path does not lead to an entry of the tree (a symlink or a swapped folder on the way)."""


def _syscall():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc.syscall


def _openat2(dir_fd: int, rel: bytes, flags: int) -> int | None:
    """openat2 with RESOLVE_BENEATH|NO_SYMLINKS|NO_MAGICLINKS; None when the kernel lacks it."""
    global _openat2_ok
    how = struct.pack("QQQ", flags | os.O_CLOEXEC, 0,
                      _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
    buffer = ctypes.create_string_buffer(how, len(how))
    fd = _syscall()(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dir_fd), ctypes.c_char_p(rel), buffer,
                    ctypes.c_size_t(len(how)))
    if fd >= 0:
        return int(fd)
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EPERM) and _openat2_ok:  # EPERM: a seccomp filter refusing it
        _openat2_ok = False
        return None
    raise OSError(code, os.strerror(code))


def parts_of(root: str, path: str) -> list[str]:
    """The components of `path` below `root`; OutsideTree if it is not under it or uses `.`/`..`."""
    root = root.rstrip("/") or "/"
    if path == root:
        return []
    prefix = root if root == "/" else root + "/"
    if not path.startswith(prefix):
        raise OutsideTree(errno.ENOENT, f"{path!r} is not under {root!r}")
    parts = path[len(prefix):].split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise OutsideTree(errno.ENOENT, f"{path!r} is not a plain path under {root!r}")
    return parts


def open_root(root: str) -> int:
    """The root folder itself (configured by the administrator, so its own path may use symlinks)."""
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def open_beneath(root: str, path: str, flags: int = os.O_RDONLY) -> int:
    """A descriptor for `path`, resolved from `root` with no symlink anywhere (the last one included)."""
    parts = parts_of(root, path)
    if not parts:  # the watched path itself (a folder, or a single file such as /etc/passwd)
        try:
            return os.open(root, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutsideTree(errno.ENOENT, "the watched path is a symlink") from None
            raise
    root_fd = open_root(root)
    try:
        return _open_parts(root_fd, parts, flags)
    finally:
        os.close(root_fd)


def _open_parts(root_fd: int, parts: list[str], flags: int) -> int:
    try:
        if _openat2_ok:
            fd = _openat2(root_fd, os.fsencode("/".join(parts)), flags | os.O_NOFOLLOW)
            if fd is not None:
                return fd
        return _walk_open(root_fd, parts, flags)
    except OSError as exc:
        if exc.errno in _ESCAPES and not isinstance(exc, OutsideTree):
            raise OutsideTree(errno.ENOENT, f"not in the watched tree ({os.strerror(exc.errno)})") from None
        raise


def _walk_open(root_fd: int, parts: list[str], flags: int) -> int:
    """The portable fallback: one openat per component, each refusing a symlink."""
    fd = os.dup(root_fd)
    try:
        for name in parts[:-1]:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    finally:
        os.close(fd)


def parent_beneath(root: str, path: str) -> tuple[int, str]:
    """(descriptor of the folder holding `path`, its name there); for `root` itself, its own parent."""
    parts = parts_of(root, path)
    if not parts:
        return os.open(os.path.dirname(root.rstrip("/")) or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), \
            os.path.basename(root.rstrip("/"))
    if len(parts) == 1:
        return open_root(root), parts[0]
    folder = root.rstrip("/") + "/" + "/".join(parts[:-1])
    return open_beneath(root, folder, _DIR_FLAGS), parts[-1]


def lstat_beneath(root: str, path: str) -> tuple[os.stat_result, str | None] | None:
    """lstat of `path` (and a symlink's target) as an entry of the tree, or None if it is not one now."""
    try:
        fd, name = parent_beneath(root, path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        target = os.readlink(name, dir_fd=fd) if stat.S_ISLNK(st.st_mode) else None
    except (FileNotFoundError, NotADirectoryError):
        return None
    finally:
        os.close(fd)
    return st, target


def check_same(fd: int, inode: int | None) -> os.stat_result:
    """fstat the opened file: it must be a regular file and, when known, the inode that was scanned."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (inode is not None and st.st_ino != inode):
        raise OutsideTree(errno.ENOENT, "no longer the file that was scanned")
    return st


class Roots:
    """The watched roots; `root_of(path)` picks the deepest one holding it (None: not watched)."""

    def __init__(self, roots: list[str]) -> None:
        self.roots = sorted((os.path.normpath(r) for r in roots), key=len, reverse=True)

    def root_of(self, path: str) -> str | None:
        for root in self.roots:
            if path == root or path.startswith(root.rstrip("/") + "/"):
                return root
        return None
