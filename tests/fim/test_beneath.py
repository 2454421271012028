"""Issue 11 item 2: a folder swapped for a symlink never leads the root agent's reads outside the tree.

The attack: `web/d/shadow` is watched; the intruder renames `d` and puts a symlink to a root-only folder
in its place, so `web/d/shadow` now names the root-only file. Before the fix its content arrived in the
FIM diff and in the known-good store (12 of 12 tries).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from govwatch.agents.fim import beneath
from govwatch.agents.fim.scan import Excluder, Hasher, hash_file, lstat_state, walk
from govwatch.agents.fim.watcher import SCHEMA, FimWatcher
from govwatch.events import Event
from govwatch.schema import validate

from .conftest import RULES

SECRET = b"root:$6$TOPSECRET-HASH:19000:0:99999:7:::\n"


@pytest.fixture(params=["openat2", "openat"])
def resolver(request: Any, monkeypatch: Any) -> str:
    """Both ways of resolving beneath the root: the kernel's openat2 and the per-component fallback."""
    if request.param == "openat":
        monkeypatch.setattr(beneath, "_openat2_ok", False)
    elif not beneath._openat2_ok:
        pytest.skip("openat2 is not available on this kernel/architecture")
    return request.param


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    web, secret = tmp_path / "web", tmp_path / "rootonly"
    (web / "d").mkdir(parents=True)
    secret.mkdir(mode=0o700)
    (web / "d" / "shadow").write_text("public page\n")
    (web / "index.html").write_text("<h1>home</h1>\n")
    (secret / "shadow").write_bytes(SECRET)
    os.chmod(secret / "shadow", 0o600)
    return {"web": web, "secret": secret}


def swap(web: Path, secret: Path) -> None:
    os.rename(web / "d", web / "d.old")
    os.symlink(secret, web / "d")


def test_hash_beneath_refuses_a_swapped_folder(tree: dict[str, Path], resolver: str) -> None:
    web, path = str(tree["web"]), str(tree["web"] / "d" / "shadow")
    assert hash_file(path, keep=4096, root=web)[1] == b"public page\n"
    swap(tree["web"], tree["secret"])
    with pytest.raises(FileNotFoundError):
        hash_file(path, keep=4096, root=web)
    assert lstat_state(path, web) is None  # not an entry of the tree any more
    assert hash_file(path, keep=4096)[1] == SECRET  # what a plain open does: the leak this prevents


def test_hash_refuses_a_different_inode(tree: dict[str, Path], resolver: str) -> None:
    path = tree["web"] / "index.html"
    inode = path.stat().st_ino
    path.unlink()
    path.write_text("replaced\n")
    other = path.stat().st_ino
    with pytest.raises(FileNotFoundError):
        hash_file(str(path), root=str(tree["web"]), inode=inode if inode != other else other + 1)


def test_dotdot_and_foreign_paths_are_not_in_the_tree(tree: dict[str, Path], resolver: str) -> None:
    web = str(tree["web"])
    for path in (f"{web}/d/../../rootonly/shadow", str(tree["secret"] / "shadow"), f"{web}/./index.html"):
        assert lstat_state(path, web) is None
        with pytest.raises(FileNotFoundError):
            hash_file(path, root=web)


def test_walk_does_not_enter_a_folder_swapped_mid_walk(tree: dict[str, Path], resolver: str,
                                                      monkeypatch: Any) -> None:
    """The folder is listed as a folder, then swapped before it is entered: its listing must not be read."""
    original = beneath.open_beneath
    swapped = []

    def open_after_swap(root: str, path: str, flags: int = os.O_RDONLY) -> int:
        if path.endswith("/d") and not swapped:
            swapped.append(path)
            swap(tree["web"], tree["secret"])
        return original(root, path, flags)

    monkeypatch.setattr("govwatch.agents.fim.scan.open_beneath", open_after_swap)
    found = walk([str(tree["web"])], Excluder(), [])
    assert swapped
    assert str(tree["web"] / "d" / "shadow") not in found
    hasher = Hasher(roots=[str(tree["web"])])
    states = {p: s for p, s in found.items()}
    hasher.fill(states, [p for p, s in states.items() if s.type == "file"], [])


def watcher_over(web: Path, data: Path) -> tuple[FimWatcher, list[Event]]:
    section = validate({"paths": [str(web)], "rules": RULES}, SCHEMA, "agent.yml")
    events: list[Event] = []
    watcher = FimWatcher(section, {"data_dir": str(data), "name": "test"}, realtime=False)
    watcher.start(events.append)
    assert watcher.ready.wait(10)
    return watcher, events


def store_blobs(data: Path) -> list[bytes]:
    blobs = data / "fim" / "known_good" / "blobs"
    return [p.read_bytes() for p in blobs.rglob("*") if p.is_file()]


def leaked(events: list[Event], data: Path) -> list[str]:
    marker = SECRET.decode().strip()
    where = [f"event {e.kind} {e.data.get('path')}" for e in events if marker in repr(e.data)]
    where += ["known-good store" for blob in store_blobs(data) if SECRET in blob]
    return where


def test_reconcile_after_the_swap_reads_nothing_outside(tree: dict[str, Path], tmp_path: Path,
                                                       resolver: str) -> None:
    watcher, events = watcher_over(tree["web"], tmp_path / "data")
    try:
        (tree["web"] / "d" / "shadow").write_text("edited page\n")
        swap(tree["web"], tree["secret"])
        engine = watcher.engine
        assert engine is not None
        engine.reconcile(str(tree["web"] / "d" / "shadow"))  # the inotify event arrives after the swap
        engine.reconcile(str(tree["web"] / "d"))
        watcher._rescan([str(tree["web"])])
        assert leaked(events, tmp_path / "data") == []
        changes = {(e.data["change"], e.data["path"]) for e in events if e.kind == "fim"}
        assert ("modified", str(tree["web"] / "d")) in changes  # the folder became a symlink: reported
        assert ("deleted", str(tree["web"] / "d" / "shadow")) in changes
    finally:
        watcher.stop()


def test_realtime_race_never_leaks(tree: dict[str, Path], tmp_path: Path) -> None:
    """The issue's reproduction with the realtime watcher: write, swap at once, twelve times."""
    from .conftest import Harness

    harness = Harness(str(tree["web"]), str(tmp_path / "data"), settle=0.05)
    received: list[Event] = []
    try:
        for attempt in range(12):
            target = tree["web"] / "d"
            if target.is_symlink():
                target.unlink()
                os.rename(tree["web"] / "d.old", target)
            (target / "shadow").write_text(f"page {attempt}\n")
            swap(tree["web"], tree["secret"])
            received += harness.quiet(0.3, kinds=("fim", "fim_status"))
        received += harness.quiet(1.0, kinds=("fim", "fim_status"))
        assert received, "the watcher saw nothing at all"
        assert leaked(received, tmp_path / "data") == []
    finally:
        harness.watcher.stop()
    index = tmp_path / "data" / "fim" / "known_good" / "index.db"
    with sqlite3.connect(index) as db:
        paths = [bytes(row[0]) for row in db.execute("SELECT path FROM versions")]
    assert not any(b"rootonly" in p for p in paths)


def test_concurrent_swapping_never_leaks(tree: dict[str, Path], tmp_path: Path, resolver: str) -> None:
    """A thread flips the folder and the symlink as fast as it can while the engine reads the path."""
    watcher, events = watcher_over(tree["web"], tmp_path / "data")
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            swap(tree["web"], tree["secret"])
            (tree["web"] / "d").unlink()
            os.rename(tree["web"] / "d.old", tree["web"] / "d")

    thread = threading.Thread(target=flip, daemon=True)
    thread.start()
    try:
        engine = watcher.engine
        assert engine is not None
        for i in range(300):
            if i % 10 == 0:
                try:
                    (tree["web"] / "d.old" / "shadow").write_text(f"v{i}\n")
                except OSError:
                    pass
            engine.reconcile(str(tree["web"] / "d" / "shadow"), force_hash=True)
    finally:
        stop.set()
        thread.join(10)
        watcher.stop()
    assert leaked(events, tmp_path / "data") == []


def test_a_single_file_root_is_read(tmp_path: Path, resolver: str) -> None:
    """`paths: [/etc/passwd]` is a root that is a file: it is read as itself."""
    single = tmp_path / "passwd"
    single.write_text("root:x:0:0::/root:/bin/sh\n")
    assert hash_file(str(single), keep=100, root=str(single))[1] == single.read_bytes()
    assert lstat_state(str(single), str(single)) is not None
