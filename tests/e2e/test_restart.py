"""Nothing lost, nothing doubled: the collector is SIGKILLed while an agent keeps producing events."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from .conftest import wait_for

pytestmark = pytest.mark.slow


def test_collector_killed_mid_stream_counts_every_event_once(suite, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("<h1>Ministry of Commerce</h1>")
    suite.configure()
    suite.start_collector()
    suite.start_agent("web-01", fim={"paths": [str(www)]})
    assert wait_for(lambda: suite.metric("govwatch_agent_last_seen_timestamp_seconds", agent="web-01") > 0, 30)
    # the watcher reports watched files once its baseline is built and inotify is on: only then write
    assert wait_for(lambda: suite.metric("govwatch_fim_watched_files", agent="web-01") >= 1, 60)
    baseline = suite.metric("govwatch_fim_changes_total", agent="web-01")
    total = 300

    def produce() -> None:
        for i in range(total):
            (www / f"news-{i}.html").write_text(f"<p>news {i}</p>")
            time.sleep(0.02)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(1.5)
    suite.kill_collector()  # SIGKILL mid-stream: no clean shutdown, no flush
    time.sleep(2.0)
    suite.start_collector()
    producer.join()
    want = baseline + total
    arrived = wait_for(lambda: suite.metric("govwatch_fim_changes_total", agent="web-01") >= want, 60)
    time.sleep(2.0)  # any duplicate retry would land by now
    by_change = {c: suite.metric("govwatch_fim_changes_total", agent="web-01", change=c)
                 for c in ("created", "modified", "deleted", "attributes")}
    assert arrived, f"only {by_change} of {total} created arrived; agent log: {suite.log_tail('web-01')}"
    assert suite.metric("govwatch_fim_changes_total", agent="web-01", change="created") == total, by_change
    assert suite.metric("govwatch_fim_changes_total", agent="web-01") == want
    db = sqlite3.connect(tmp_path / "c" / "govwatch.db")
    paths = db.execute("SELECT json_extract(data, '$.path') FROM events WHERE kind='fim' AND "
                       "json_extract(data, '$.change')='created'").fetchall()
    assert len(paths) == len(set(paths)) == total
