"""Issue 11, agent side: nothing an event holds, a full spool or a corrupt spool can silence the agent."""

from __future__ import annotations

import base64
import gzip
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from govwatch.agents.paths import display, from_event, with_raw
from govwatch.agents.runner import Agent
from govwatch.agents.sender import Sender
from govwatch.agents.spool import Spool, SpoolFull
from govwatch.events import Event

BAD = os.fsdecode(b"/var/www/html/bad-\xff.php")


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def test_non_utf8_path_is_carried_losslessly_and_shown_escaped() -> None:
    data: dict[str, Any] = {}
    with_raw(data, "path", BAD)
    assert data["path"] == "/var/www/html/bad-\\xff.php"
    assert base64.b64decode(data["path_b64"]) == b"/var/www/html/bad-\xff.php"
    assert from_event(json.loads(json.dumps(data)), "path") == BAD
    clean: dict[str, Any] = {}
    with_raw(clean, "path", "/var/www/html/ទំព័រ.html")
    assert clean == {"path": "/var/www/html/ទំព័រ.html"}  # Khmer is valid UTF-8: no extra field


def test_one_bad_file_name_does_not_block_the_spool(tmp_path: Path) -> None:
    """Before: the batch holding `bad-\\xff.php` failed to encode, and the writer retried it forever."""
    spool = Spool(str(tmp_path / "spool.db"))
    events = [Event("fim", {"path": f"/var/www/html/f{i}.html", "change": "created"}) for i in range(5)]
    events.insert(2, Event("fim", {"path": BAD, "change": "created"}))  # a raw surrogate, not escaped by a watcher
    assert spool.put(events) == 0
    bodies = [json.loads(body.decode("utf-8")) for _, body in spool.peek(100)]
    assert [b["data"]["path"] for b in bodies][2] == display(BAD)
    assert len(bodies) == 6 and spool.escaped == 1


def test_an_unserialisable_event_is_dead_lettered_and_the_rest_written(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool.db"))
    events = [Event("agent", {"n": i}) for i in range(4)] + [Event("agent", {"obj": object()})]
    assert spool.put(events) == 1
    assert spool.backlog() == 4 and spool.dead() == 1


def test_a_batch_the_database_refuses_is_split_to_the_bad_event(tmp_path: Path, monkeypatch: Any) -> None:
    spool = Spool(str(tmp_path / "spool.db"))
    real = spool._commit
    poison = Event("agent", {"poison": True})

    def commit(rows: list) -> None:
        if any(row[0] == poison.id for row in rows):
            raise sqlite3.InterfaceError("Error binding parameter 3")
        real(rows)

    monkeypatch.setattr(spool, "_commit", commit)
    events = [Event("agent", {"n": i}) for i in range(7)]
    assert spool.put(events[:3] + [poison] + events[3:]) == 1
    assert spool.backlog() == 7 and spool.dead() == 1


def test_a_full_disk_is_not_an_event_fault(tmp_path: Path, monkeypatch: Any) -> None:
    spool = Spool(str(tmp_path / "spool.db"))

    def full(rows: list) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(spool, "_commit", full)
    with pytest.raises(SpoolFull):
        spool.put([Event("agent", {"n": 1})])
    assert spool.dead() == 0  # nothing dead-lettered: the events are not to blame


@pytest.mark.parametrize("garbage", [b"this is not a database" * 100, b"SQLite format 3\0" + b"\xff" * 8192])
def test_corrupt_spool_is_moved_aside_and_replaced(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "spool.db"
    path.write_bytes(garbage)
    spool = Spool(str(path))
    spool.put([Event("agent", {"n": 1})])
    assert spool.backlog() == 1
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("spool.db.corrupt-")]
    assert [p.read_bytes() for p in kept] == [garbage]
    assert spool.recovered and "kept as" in spool.recovered


class Collector:
    """A fake collector answering POST /api/v1/events; records every batch."""

    def __init__(self) -> None:
        self.batches: list[list[dict]] = []
        self.headers: dict[str, str] = {}
        self.status = 200
        self.lock = threading.Lock()

    def post(self, url: str, data: bytes, timeout: float, verify: Any) -> Any:
        batch = json.loads(gzip.decompress(data))["events"]
        with self.lock:
            self.batches.append(batch)
        return _Response(self.status)

    def events(self, kind: str | None = None) -> list[dict]:
        with self.lock:
            return [e for b in self.batches for e in b if kind is None or e["kind"] == kind]


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code, self.headers, self.text = status, {"Date": "Mon, 01 Jan 1999 00:00:00 GMT"}, "{}"

    def json(self) -> dict:
        return {}


class FakeWatcher:
    name = "fake"

    def __init__(self) -> None:
        self.resyncs = 0

    def stats(self) -> dict:
        return {}

    def stop(self) -> None:
        pass

    def resync(self) -> None:
        self.resyncs += 1


@pytest.fixture
def agent(tmp_path: Path) -> Any:
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"token": "t" * 40}))
    os.chmod(creds, 0o600)
    cfg = {"name": "web-01", "ministry": "MoC", "heartbeat": 3600.0, "spool": str(tmp_path / "spool.db"),
           "spool_max": 2**20 * 16, "data_dir": str(tmp_path / "data"),
           "collector": {"url": "http://127.0.0.1:1", "credentials": str(creds), "ca_file": None, "timeout": 5.0,
                         "batch_size": 100, "max_backoff": 0.5}}
    running = Agent(cfg)
    running.sender.session = Collector()
    yield running
    running.stop()


def test_heartbeats_and_a_notice_travel_while_the_spool_cannot_be_written(agent: Any, monkeypatch: Any) -> None:
    collector, watcher = agent.sender.session, FakeWatcher()
    agent.watchers["fake"] = watcher
    real_put = agent.spool.put
    full = threading.Event()
    full.set()

    def put(events: list) -> int:
        if full.is_set():
            raise SpoolFull("database or disk is full")
        return real_put(events)

    monkeypatch.setattr(agent.spool, "put", put)
    agent.start()
    fates: list[bool] = []
    agent.outbox(Event("fim", {"path": "/var/www/html/a.html", "change": "created"}), fates.append)
    assert wait_for(lambda: fates == [False]), fates  # the watcher is told, so it rescans later
    notices = wait_for(lambda: [e for e in collector.events("agent") if e["data"]["problem"] == "spool_unwritable"])
    assert notices and "disk is full" in notices[0]["data"]["detail"]
    beats = wait_for(lambda: [e for e in collector.events("heartbeat") if e["data"]["spool_error"]])
    assert beats, collector.batches
    full.clear()  # space is back
    assert wait_for(lambda: watcher.resyncs >= 1), "watchers were not asked to rescan after recovery"
    agent.outbox(Event("fim", {"path": "/var/www/html/b.html", "change": "created"}), fates.append)
    assert wait_for(lambda: fates == [False, True])
    assert wait_for(lambda: [e for e in collector.events("fim") if e["data"]["path"].endswith("b.html")])


def test_corrupt_spool_at_start_is_reported_critical(tmp_path: Path) -> None:
    (tmp_path / "spool.db").write_bytes(b"garbage" * 1000)
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"token": "t" * 40}))
    os.chmod(creds, 0o600)
    cfg = {"name": "web-01", "ministry": "MoC", "heartbeat": 3600.0, "spool": str(tmp_path / "spool.db"),
           "spool_max": 2**24, "data_dir": str(tmp_path / "data"),
           "collector": {"url": "http://127.0.0.1:1", "credentials": str(creds), "ca_file": None, "timeout": 5.0,
                         "batch_size": 100, "max_backoff": 0.5}}
    running = Agent(cfg)
    collector = running.sender.session = Collector()
    running.start()
    try:
        found = wait_for(lambda: [e for e in collector.events("agent") if e["data"]["problem"] == "spool_corrupt"])
        assert found and found[0]["severity"] == "critical"
    finally:
        running.stop()


@pytest.mark.parametrize("status", [400, 409, 413, 422])
def test_a_permanent_refusal_is_dead_lettered_not_retried_forever(tmp_path: Path, status: int) -> None:
    """An agent whose clock is wrong may see its events refused: they must not block the rest."""
    spool = Spool(str(tmp_path / "spool.db"))
    spool.put([Event("agent", {"n": 1}, ts=915148800.0)])
    collector = Collector()
    collector.status = status
    sender = Sender(spool, "http://127.0.0.1:1", "t", True, session=collector, sleep=lambda s: False)
    for _ in range(3):
        if spool.backlog() == 0:
            break
        assert sender.send(spool.peek(10))
    assert spool.backlog() == 0 and spool.dead() == 1
    assert sender.clock_skew is not None and sender.clock_skew < -10 * 365 * 86400


@pytest.mark.parametrize("status", [401, 403, 404, 429, 503])
def test_a_setup_or_transient_refusal_keeps_the_events(tmp_path: Path, status: int) -> None:
    spool = Spool(str(tmp_path / "spool.db"))
    spool.put([Event("agent", {"n": 1})])
    collector = Collector()
    collector.status = status
    sender = Sender(spool, "http://127.0.0.1:1", "t", True, session=collector, sleep=lambda s: False)
    assert not sender.send(spool.peek(10))
    assert spool.backlog() == 1 and spool.dead() == 0


def test_every_request_carries_a_date(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool.db"))
    spool.put([Event("agent", {"n": 1})])
    collector = Collector()
    sender = Sender(spool, "http://127.0.0.1:1", "t", True, session=collector, sleep=lambda s: False)
    assert sender.send(spool.peek(10))
    assert collector.headers.get("Date", "").endswith("GMT")
