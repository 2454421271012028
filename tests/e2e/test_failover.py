"""An agent with two collectors: the first is SIGKILLed while files change, the second stores every change
exactly once, and the agent goes back to the first once it is running again.

Both collectors are real processes on ONE SQLite store file in one data dir (SQLite allows two writing
processes): it stands in for the shared PostgreSQL of the HA layout, which gives the same guarantee
(idempotent ingest on (agent, event id) in one shared store)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

from .conftest import GOVWATCH, Suite, free_port, wait_for

pytestmark = pytest.mark.slow


class Pair(Suite):
    """Suite's collector (A) plus a second collector process (B) on the same data dir and store file."""

    def __init__(self, work: Path) -> None:
        super().__init__(work)
        self.b_port = free_port()
        self.b_url = f"http://127.0.0.1:{self.b_port}"
        self.b_config = work / "c" / "collector-b.yml"
        self.b: subprocess.Popen | None = None

    def configure(self, **changes) -> None:
        super().configure(**changes)
        cfg = yaml.safe_load(self.config.read_text())
        cfg["listen"] = f"127.0.0.1:{self.b_port}"
        self.b_config.write_text(yaml.safe_dump(cfg))

    def start_b(self) -> None:
        log = open(self.work / "collector-b.log", "a")
        self.b = subprocess.Popen([*GOVWATCH, "collector", "run", "-c", str(self.b_config)], stdout=log, stderr=log)
        self.procs.append(self.b)
        assert wait_for(lambda: _ok(f"{self.b_url}/healthz"), 20), (self.work / "collector-b.log").read_text()

    def current_collector(self, url: str, name: str) -> str:
        token = (self.work / "c" / "admin-token").read_text().strip()
        try:
            agents = requests.get(f"{url}/api/v1/agents", headers={"Authorization": f"Bearer {token}"},
                                  timeout=5).json()["agents"]
        except (requests.RequestException, ValueError, KeyError):
            return ""
        return next((a.get("collector") or "" for a in agents if a["name"] == name), "")


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def pair(tmp_path):
    running = Pair(tmp_path)
    yield running
    running.stop()


def start_failover_agent(pair: Pair, www: Path) -> None:
    """An agent whose collector.url lists A then B, returning to A 2 s after it is back."""
    creds = pair.enroll("web-01")  # at A only: B shares the agent table
    config = pair.work / "web-01.yml"
    config.write_text(yaml.safe_dump({
        "name": "web-01", "heartbeat": "1s", "spool": str(pair.work / "web-01-spool.db"), "fim": {"paths": [str(www)]},
        "collector": {"url": [pair.url, pair.b_url], "credentials": str(creds), "max_backoff": "1s",
                      "return_after": "2s", "timeout": "5s"}}))
    log = open(pair.work / "web-01.log", "a")
    pair.procs.append(subprocess.Popen([*GOVWATCH, "agent", "run", "-c", str(config)], stdout=log, stderr=log))


def test_first_collector_killed_every_change_stored_once_then_back_to_it(pair, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("<h1>Ministry of Commerce</h1>")
    pair.configure()
    pair.start_collector()
    pair.start_b()
    start_failover_agent(pair, www)
    assert wait_for(lambda: pair.metric("govwatch_fim_watched_files", agent="web-01") >= 1, 60), pair.log_tail("web-01")
    assert wait_for(lambda: pair.current_collector(pair.b_url, "web-01") == pair.url, 30)
    total = 300

    def produce() -> None:
        for i in range(total):
            (www / f"news-{i}.html").write_text(f"<p>news {i}</p>")
            time.sleep(0.01)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(1.0)
    pair.collector.send_signal(signal.SIGKILL)  # A dies mid-stream: no clean shutdown, no answer
    pair.collector.wait(10)
    producer.join()
    db = tmp_path / "c" / "govwatch.db"

    def stored() -> list[tuple[str]]:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute("SELECT json_extract(data, '$.path') FROM events WHERE kind='fim' AND "
                                "json_extract(data, '$.change')='created'").fetchall()

    assert wait_for(lambda: len(stored()) >= total, 60), f"{len(stored())} of {total}; {pair.log_tail('web-01')}"
    log = (pair.work / "web-01.log").read_text()
    assert f"collector switch: {pair.url} -> {pair.b_url}" in log, pair.log_tail("web-01")
    assert wait_for(lambda: pair.current_collector(pair.b_url, "web-01") == pair.b_url, 30)
    b_metric = _metric_at(pair, pair.b_url)
    assert b_metric == total, f"B counts {b_metric} created changes for {total} made"
    paths = stored()
    assert len(paths) == len(set(paths)) == total, "every change stored exactly once"

    pair.start_collector()  # A is back: the agent returns to it after return_after (2 s) on B
    assert wait_for(lambda: "the preferred collector is ready again" in (pair.work / "web-01.log").read_text(), 60), \
        pair.log_tail("web-01")
    assert wait_for(lambda: pair.current_collector(pair.url, "web-01") == pair.url, 30)
    (www / "after.html").write_text("<p>after the return</p>")
    assert wait_for(lambda: len(stored()) == total + 1, 30)
    assert _metric_at(pair, pair.url) == _metric_at(pair, pair.b_url) == total + 1, "A and B export the same counts"


def _metric_at(pair: Pair, url: str) -> float:
    saved, pair.url = pair.url, url
    try:
        return pair.metric("govwatch_fim_changes_total", agent="web-01", change="created")
    finally:
        pair.url = saved
