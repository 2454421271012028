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
    time.sleep(1.0)  # let the watcher's baseline settle
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
    assert wait_for(lambda: suite.metric("govwatch_fim_changes_total", agent="web-01") >= want, 60)
    time.sleep(2.0)  # any duplicate retry would land by now
    assert suite.metric("govwatch_fim_changes_total", agent="web-01", change="created") == total
    assert suite.metric("govwatch_fim_changes_total", agent="web-01") == want
    db = sqlite3.connect(tmp_path / "c" / "govwatch.db")
    paths = db.execute("SELECT json_extract(data, '$.path') FROM events WHERE kind='fim' AND "
                       "json_extract(data, '$.change')='created'").fetchall()
    assert len(paths) == len(set(paths)) == total
