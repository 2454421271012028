"""The realtime watcher: one event per logical change, within a second, with evidence."""

from __future__ import annotations

import os
import shutil
import time
from typing import Any as Harness


def test_new_file_written_in_several_syscalls_is_one_created(harness: Harness, webroot: str) -> None:
    path = os.path.join(webroot, "page.html")
    with open(path, "w") as handle:
        for i in range(20):
            handle.write(f"<p>line {i}</p>\n")
            handle.flush()
    (event,) = harness.fim(1)
    assert (event.data["change"], event.data["path"]) == ("created", path)
    assert event.data["after"]["size"] == os.path.getsize(path)
    assert harness.quiet() == []


def test_script_in_upload_folder_is_critical_with_markers(harness: Harness, webroot: str) -> None:
    path = os.path.join(webroot, "uploads", "x.php")
    with open(path, "w") as handle:
        handle.write('<?php system($_GET["c"]); ?>\n')
    (event,) = harness.fim(1, timeout=1.0)
    assert event.severity == "critical"
    assert event.data["webshell_markers"] == ["exec_request"]
    assert "system($_GET" in event.data["diff"]


def test_modified_page_has_diff_and_restorable_copy(harness: Harness, webroot: str) -> None:
    path = os.path.join(webroot, "index.html")
    with open(path, "w") as handle:
        handle.write("<html><body><h1>Hacked by Gh0st</h1></body></html>\n")
    (event,) = harness.fim(1)
    assert (event.data["change"], event.severity) == ("modified", "high")
    assert "-<html><body><h1>Ministry of Commerce" in event.data["diff"]
    assert "+<html><body><h1>Hacked by Gh0st" in event.data["diff"]
    assert event.data["known_good"] is True


def test_same_size_change_with_mtime_restored_is_modified(harness: Harness, webroot: str) -> None:
    path = os.path.join(webroot, "style.css")
    st = os.stat(path)
    with open(path, "r+b") as handle:
        handle.write(b"BODY")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    (event,) = harness.fim(1)
    assert event.data["change"] == "modified"
    assert event.data["before"]["size"] == event.data["after"]["size"]
    assert event.data["before"]["sha256"] != event.data["after"]["sha256"]


def test_file_replaced_by_symlink_is_modified_and_not_followed(harness: Harness, webroot: str) -> None:
    path = os.path.join(webroot, "style.css")
    os.symlink("/etc/passwd", os.path.join(webroot, ".tmp-link"))
    os.rename(os.path.join(webroot, ".tmp-link"), path)
    (event,) = harness.fim(1)
    assert (event.data["change"], event.data["path"]) == ("modified", path)
    assert event.data["after"]["type"] == "symlink"
    assert event.data["after"]["target"] == "/etc/passwd"
    assert event.data["after"]["sha256"] is None
    assert event.severity == "high"
    assert harness.quiet() == []


def test_file_deleted_then_symlinked_ends_as_a_symlink(harness: Harness, webroot: str) -> None:
    path = os.path.join(webroot, "news.php")
    os.unlink(path)
    os.symlink("/etc/passwd", path)
    first = harness.fim(1)[0]
    events = [first] + ([] if first.data["change"] == "modified" else harness.fim(1))
    assert [e.data["change"] for e in events] in (["modified"], ["deleted", "created"])
    assert events[-1].data["after"]["target"] == "/etc/passwd"


def test_chmod_and_chown_are_attributes(harness: Harness, webroot: str) -> None:
    path = os.path.join(webroot, "news.php")
    os.chmod(path, 0o777)
    (event,) = harness.fim(1)
    assert (event.data["change"], event.data["after"]["mode"]) == ("attributes", "0777")
    assert event.severity == "medium"
    os.chown(path, 1234, 1234)
    (event,) = harness.fim(1)
    assert (event.data["change"], event.data["after"]["uid"], event.data["after"]["gid"]) == ("attributes", 1234, 1234)


def test_rename_is_deleted_plus_created_with_old_path(harness: Harness, webroot: str) -> None:
    old, new = os.path.join(webroot, "news.php"), os.path.join(webroot, "uploads", "shell.php")
    os.rename(old, new)
    events = harness.fim(2)
    assert [(e.data["change"], e.data["path"]) for e in events] == [("deleted", old), ("created", new)]
    assert events[1].data["old_path"] == old
    assert events[1].severity == "critical"


def test_burst_of_1000_new_files_gives_exactly_1000_events(harness: Harness, webroot: str) -> None:
    folder = os.path.join(webroot, "burst")
    os.mkdir(folder)
    (created_dir,) = harness.fim(1)
    assert created_dir.data["path"] == folder
    for i in range(1000):
        with open(os.path.join(folder, f"n{i}.html"), "w") as handle:
            handle.write(f"<p>{i}</p>\n")
    events = harness.fim(1000, timeout=30)
    assert {e.data["change"] for e in events} == {"created"}
    assert len({e.data["path"] for e in events}) == 1000
    assert harness.quiet(2.0) == []


def test_watched_root_deleted_and_recreated(harness: Harness, webroot: str) -> None:
    shutil.rmtree(webroot)
    events = harness.fim(5)
    assert {e.data["change"] for e in events} == {"deleted"}
    assert webroot in {e.data["path"] for e in events}
    os.mkdir(webroot)
    with open(os.path.join(webroot, "index.html"), "w") as handle:
        handle.write("back\n")
    events = harness.fim(2, timeout=5)
    assert {(e.data["change"], e.data["path"]) for e in events} == {
        ("created", webroot), ("created", os.path.join(webroot, "index.html"))}
    with open(os.path.join(webroot, "later.html"), "w") as handle:  # realtime again, not just a rescan
        handle.write("x\n")
    (event,) = harness.fim(1, timeout=1.0)
    assert event.data["path"].endswith("later.html")


def test_cache_folder_is_ignored_but_webshell_there_is_not(harness: Harness, webroot: str) -> None:
    cache = os.path.join(webroot, "cache")
    os.mkdir(cache)
    harness.fim(1)  # the folder itself
    with open(os.path.join(cache, "page.html"), "w") as handle:
        handle.write("cached\n")
    with open(os.path.join(cache, "x.php"), "w") as handle:
        handle.write("<?php eval(base64_decode('ZWNobyAx')); ?>\n")
    (event,) = harness.fim(1)
    assert event.data["path"].endswith("x.php") and event.severity == "critical"
    assert harness.quiet(1.5) == []


def test_latency_close_to_event_is_small(harness: Harness, webroot: str) -> None:
    started = time.monotonic()
    with open(os.path.join(webroot, "fast.html"), "w") as handle:
        handle.write("x\n")
    harness.fim(1, timeout=1.0)
    assert time.monotonic() - started < 0.5
