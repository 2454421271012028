"""`govwatch fim quarantine`: move a suspicious file (a web shell) out of the web root, reversibly.

A new script in a web root is removed, not restored: there is no good version of a web shell. Deleting it
would destroy the evidence, so it is moved into a root-only folder beside the agent's state
(`DATA_DIR/fim/quarantine/ID/`: `content` mode 0600, never executable or served, and `meta.json` with the
original path, mode, owner, times and sha256). `--undo` puts it back exactly. Each action is reported to
the collector as an `agent` event through the agent's spool, with the command that undoes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from typing import Any

from govwatch.errors import GovwatchError

MAX_QUARANTINE_BYTES = 256 * 2**20  # a web shell is kilobytes; a huge file is a mistake to move this way


def quarantine_dir(agent_cfg: dict[str, Any]) -> str:
    from govwatch.agents.fim.watcher import state_dir

    return os.path.join(state_dir(agent_cfg), "quarantine")


def under(path: str, roots: list[str]) -> str | None:
    """The root (of `roots`) that contains `path`, comparing whole components (/var/www2 is not /var/www)."""
    for root in roots:
        root = os.path.normpath(root)
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return root
    return None


def quarantine(folder: str, path: str, by: str = "manual", reason: str = "") -> dict[str, Any]:
    """Move regular file `path` into `folder`; return its metadata. The file is read without following
    symlinks, and removed only if it is still the same inode that was copied."""
    fd = _open_file(path)
    try:
        info = os.fstat(fd)
        if info.st_size > MAX_QUARANTINE_BYTES:
            raise GovwatchError(f"{path}: {info.st_size} bytes is too large to quarantine; move it by hand")
        qid = f"{time.strftime('%Y%m%dT%H%M%S')}-{hashlib.sha256(os.urandom(16)).hexdigest()[:8]}"
        entry = os.path.join(folder, qid)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
        os.mkdir(entry, 0o700)
        digest = _copy(fd, os.path.join(entry, "content"))
    finally:
        os.close(fd)
    meta = {"id": qid, "path": path, "mode": f"{stat.S_IMODE(info.st_mode):o}", "uid": info.st_uid,
            "gid": info.st_gid, "mtime": info.st_mtime, "atime": info.st_atime, "size": info.st_size,
            "sha256": digest, "quarantined_at": time.time(), "by": by, "reason": reason}
    _write_json(os.path.join(entry, "meta.json"), meta)
    now = os.lstat(path)
    if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
        raise GovwatchError(f"{path} was replaced while being quarantined; the copy is kept in {entry}, "
                            "the file was left in place")
    os.unlink(path)
    _fsync_dir(os.path.dirname(path))
    return meta


def undo(folder: str, path_or_id: str) -> dict[str, Any]:
    """Put the newest quarantined copy of a path (or entry ID) back with its mode, owner and times."""
    meta = find(folder, path_or_id)
    if meta is None:
        raise GovwatchError(f"nothing quarantined as {path_or_id} (see the list in {folder})")
    target, entry = meta["path"], os.path.join(folder, meta["id"])
    if os.path.lexists(target):
        raise GovwatchError(f"{target} exists again; move it away first, then undo")
    tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.gw-undo-{os.getpid()}")
    with open(os.path.join(entry, "content"), "rb") as src:
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(out, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    try:
        os.chown(tmp, meta["uid"], meta["gid"])
    except PermissionError:
        pass
    os.chmod(tmp, int(meta["mode"], 8))
    os.utime(tmp, (meta["atime"], meta["mtime"]))
    os.rename(tmp, target)
    _fsync_dir(os.path.dirname(target))
    os.rename(entry, entry + ".undone")
    return meta


def find(folder: str, path_or_id: str) -> dict[str, Any] | None:
    """The newest live quarantine entry for a path or with this ID."""
    best = None
    for meta in entries(folder):
        newer = best is None or meta["quarantined_at"] > best["quarantined_at"]
        if path_or_id in (meta["id"], meta["path"]) and newer:
            best = meta
    return best


def entries(folder: str) -> list[dict[str, Any]]:
    """Metadata of every file still in quarantine (undone entries are kept, renamed, and skipped here)."""
    out = []
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    for name in names:
        if name.endswith(".undone"):
            continue
        try:
            with open(os.path.join(folder, name, "meta.json"), encoding="utf-8") as handle:
                meta = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("id") == name:
            out.append(meta)
    return out


def _open_file(path: str) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise GovwatchError(f"{path}: no such file") from None
    except OSError as exc:
        if os.path.islink(path):
            raise GovwatchError(f"{path} is a symlink; remove the link itself with rm") from None
        raise GovwatchError(f"{path}: cannot open: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise GovwatchError(f"{path} is not a regular file; only files can be quarantined")
    return fd


def _copy(fd: int, dest: str) -> str:
    digest = hashlib.sha256()
    out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(out, "wb") as handle:
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    return digest.hexdigest()


def _write_json(path: str, data: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(os.path.dirname(path))


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
