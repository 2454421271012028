"""Watcher lifecycle: config, tamper evidence, overflow recovery, rolling re-hash, restarts, stats."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import pytest

from govwatch.agents.fim import engine as engine_module
from govwatch.agents.fim.watcher import SCHEMA, describe
from govwatch.errors import ConfigError
from govwatch.schema import validate


def load_harness_class() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("fim_conftest", os.path.join(os.path.dirname(__file__),
                                                                                "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Harness


Harness = load_harness_class()


@pytest.mark.parametrize("section, message", [
    ({"paths": ["/var/www/html"], "rescan": "5m"}, "fim.rescan: unknown key"),
    ({"paths": ["www"]}, "paths must be absolute"),
    ({"paths": ["/var/www"], "rescan_interval": "soon"}, "bad duration"),
    ({}, "fim.paths: is required"),
])
def test_bad_config_is_refused_naming_the_key(section: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        validate({"fim": section}, SCHEMA.__class__("map", fields={"fim": SCHEMA}), "agent.yml")


def test_describe_says_what_is_watched() -> None:
    lines = describe(validate({"paths": ["/var/www/html", "/etc/nginx"]}, SCHEMA, "agent.yml"))
    assert lines[0] == "fim: /var/www/html (web root)" and lines[1] == "fim: /etc/nginx (system)"


def test_tampered_baseline_is_reported_and_rebuilt(webroot: str, tmp_path: Any) -> None:
    data = str(tmp_path / "data")
    first = Harness(webroot, data)
    first.watcher.stop()
    with sqlite3.connect(os.path.join(data, "fim", "baseline.db")) as conn:
        conn.execute("UPDATE files SET size = size + 1")
    second = Harness(webroot, data)
    try:
        status = second.status()
        assert status.data["problem"] == "baseline_tampered" and status.severity == "critical"
        assert second.watcher.stats()["watched_files"] == 5
    finally:
        second.watcher.stop()


def test_changes_while_stopped_are_reported_at_start(webroot: str, tmp_path: Any) -> None:
    data = str(tmp_path / "data")
    Harness(webroot, data).watcher.stop()
    with open(os.path.join(webroot, "index.html"), "a") as handle:
        handle.write("<p>defaced while the agent was down</p>\n")
    again = Harness(webroot, data)
    try:
        (event,) = again.fim(1)
        assert (event.data["change"], event.data["path"]) == ("modified", os.path.join(webroot, "index.html"))
    finally:
        again.watcher.stop()


def test_overflow_is_counted_reported_and_rescanned(harness: Any, webroot: str) -> None:
    harness.watcher.realtime.stop()  # inotify off: only the rescan can see the next change
    with open(os.path.join(webroot, "news.php"), "a") as handle:
        handle.write("<?php // changed while events were lost ?>\n")
    harness.watcher.realtime.sinks[webroot].overflow(webroot)
    assert harness.status().data["problem"] == "overflow"
    (event,) = harness.fim(1, timeout=3)
    assert event.data["change"] == "modified"
    assert harness.watcher.stats()["overflows"] == 1


def test_rolling_rehash_finds_change_that_stat_cannot_see(harness: Any, webroot: str) -> None:
    path = os.path.join(webroot, "style.css")
    engine = harness.watcher.engine
    with engine.lock:  # pretend the content changed behind an unchanged stat and an old hash
        engine.baseline.files[path] = engine.baseline.files[path]._replace(sha256="0" * 64, hashed_at=0)
    harness.watcher.cfg["full_rehash_period"] = 60
    (event,) = harness.fim(1, timeout=5)
    assert (event.data["change"], event.data["path"]) == ("modified", path)


def test_unreadable_file_is_reported_once(harness: Any, webroot: str, monkeypatch: Any) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(engine_module, "hash_file", refuse)
    path = os.path.join(webroot, "secret.html")
    for text in ("a\n", "bb\n"):
        with open(path, "w") as handle:
            handle.write(text)
    status = harness.status()
    assert (status.data["problem"], status.data["path"]) == ("unreadable", path)
    assert harness.quiet(1.5, kinds=("fim_status",)) == []
    assert harness.watcher.stats()["unreadable"] == 1


def test_stats_have_the_keys_the_collector_reads(harness: Any) -> None:
    stats = harness.watcher.stats()
    assert {"watched_files", "overflows", "files_hashed", "scan_seconds"} <= set(stats)
    assert stats["watched_files"] == 5 and stats["files_hashed"] >= 3


def test_baseline_of_an_older_format_is_rebuilt_without_a_tamper_alarm(webroot: str, tmp_path: Any) -> None:
    data = str(tmp_path / "data")
    Harness(webroot, data).watcher.stop()
    with sqlite3.connect(os.path.join(data, "fim", "baseline.db")) as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
    again = Harness(webroot, data)
    try:
        status = again.status()
        assert (status.data["problem"], status.severity) == ("rescan", "low")  # not baseline_tampered
        assert "format" in status.data["detail"]
        assert again.watcher.stats()["watched_files"] == 5
        with open(os.path.join(webroot, "news.php"), "a") as handle:
            handle.write("<?php // after the rebuild ?>\n")
        (event,) = again.fim(1)
        assert event.data["change"] == "modified"
    finally:
        again.watcher.stop()


def test_reading_files_queues_no_inotify_events(webroot: str, tmp_path: Any, monkeypatch: Any) -> None:
    from govwatch.agents.fim import realtime

    seen: list[str] = []
    dispatch = realtime._Handler.dispatch
    monkeypatch.setattr(realtime._Handler, "dispatch", lambda self, event: (seen.append(event.src_path),
                                                                            dispatch(self, event)))
    harness = Harness(webroot, str(tmp_path / "data"))
    try:
        page = os.path.join(webroot, "index.html")
        for _ in range(2000):  # a web server serving the page: reads must not cost the watcher anything
            with open(page, "rb") as handle:
                handle.read()
        with open(os.path.join(webroot, "news.php"), "a") as handle:
            handle.write("<?php // a write after the reads ?>\n")
        harness.fim(1)  # the write's event came through, so the reads' would have too
        assert os.fsencode(page) not in [os.fsencode(p) for p in seen]
        assert harness.watcher.stats()["overflows"] == 0
    finally:
        harness.watcher.stop()


def test_rescan_finds_a_change_in_a_subfolder_after_realtime_updates(harness: Any, webroot: str) -> None:
    upload = os.path.join(webroot, "uploads", "a.png")
    with open(upload, "wb") as handle:
        handle.write(b"\x89PNG first")
    (created,) = harness.fim(1)
    assert created.data["change"] == "created"
    harness.watcher.realtime.stop()  # from here only rescans see changes
    for expected in ("modified", "modified"):
        st = os.stat(upload)
        with open(upload, "r+b") as handle:
            handle.write(b"\x89PNX")
        os.utime(upload, ns=(st.st_atime_ns, st.st_mtime_ns))
        harness.watcher.request_rescan(webroot)
        (event,) = harness.fim(1, timeout=5)
        assert (event.data["change"], event.data["path"]) == (expected, upload)
        with open(upload, "wb") as handle:
            handle.write(b"\x89PNG first")  # back to the old bytes: the next same-size edit must show again
        harness.watcher.request_rescan(webroot)
        harness.fim(1, timeout=5)
