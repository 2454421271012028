"""Browser profile folders: one fresh folder per browser start, and the sweep of folders left behind.

A collector killed with SIGKILL (or a power cut) never runs its clean-up, and each browser profile is tens of
megabytes in the shared temporary folder; after a few crashes `/tmp` fills. So every folder carries the
collector's process id in its name, and a starting collector removes the folders of processes that no longer
exist. Only folders owned by this user or the render account are touched, never through a symlink: `/tmp` is
shared and anyone may create a folder with our prefix there.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time

log = logging.getLogger("govwatch.collector.render")

PREFIX = "govwatch-render-"
_OWNED = re.compile(rf"^{re.escape(PREFIX)}(\d+)-")
LEGACY_AGE = 3600.0   # folders without a process id (older versions): removed once this old
_swept: set[str] = set()
_lock = threading.Lock()


def new_profile_dir(tmp_root: str | None, render_uid: int | None) -> str:
    """A fresh profile folder named after this process; the first call per folder sweeps stale ones."""
    root = tmp_root or tempfile.gettempdir()
    with _lock:
        if root not in _swept:
            _swept.add(root)
            removed = sweep_stale(root, render_uid)
            if removed:
                log.info("removed %d browser profile folder(s) left in %s by collectors that died", removed, root)
    return tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=root)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(name: str, mtime: float, now: float) -> bool:
    match = _OWNED.match(name)
    if match is None:
        return now - mtime > LEGACY_AGE
    pid = int(match.group(1))
    return pid != os.getpid() and not _alive(pid)


def sweep_stale(root: str, render_uid: int | None = None) -> int:
    """Remove profile folders whose collector is gone; return how many."""
    owners = {os.getuid()} | ({render_uid} if render_uid is not None else set())
    removed, now = 0, time.time()
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not entry.is_dir(follow_symlinks=False) or info.st_uid not in owners:
            continue
        if _stale(entry.name, info.st_mtime, now):
            removed += _remove(entry.path)
    return removed


def _remove(path: str, tries: int = 5) -> bool:
    """rmtree, again if needed: a dead browser's last helper processes may still be writing into the folder."""
    for attempt in range(tries):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return True
        time.sleep(0.1 * (attempt + 1))
    log.warning("could not remove the stale browser profile folder %s", path)
    return False
