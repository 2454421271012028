"""The agent's promise: nothing lost, nothing sent twice, loss beyond the bound counted, bad events isolated."""

from __future__ import annotations

import gzip
import json
import threading

import requests

from govwatch.agents.sender import Sender
from govwatch.agents.spool import Spool
from govwatch.events import Event


def fim_event(i: int, size: int = 10) -> Event:
    return Event("fim", {"path": f"/var/www/html/f{i}.html", "change": "created", "pad": "x" * size}, "high")


def test_events_survive_reopen(tmp_path):
    spool = Spool(str(tmp_path / "spool.db"))
    spool.put([fim_event(i) for i in range(10)])
    spool.close()
    again = Spool(str(tmp_path / "spool.db"))
    rows = again.peek(100)
    assert [json.loads(body)["data"]["path"] for _, body in rows] == [f"/var/www/html/f{i}.html" for i in range(10)]
    again.ack([seq for seq, _ in rows[:4]])
    assert again.backlog() == 6


def test_bound_drops_oldest_and_counts_them(tmp_path):
    spool = Spool(str(tmp_path / "spool.db"), max_bytes=20_000)
    for i in range(40):
        spool.put([fim_event(i, size=900)])
    assert spool.dropped() > 0
    assert spool.backlog() + spool.dropped() == 40
    newest = json.loads(spool.peek(1000)[-1][1])["data"]["path"]
    assert newest == "/var/www/html/f39.html"
    dropped = spool.dropped()
    spool.close()
    assert Spool(str(tmp_path / "spool.db"), max_bytes=20_000).dropped() == dropped


def test_unsent_heartbeats_are_replaced_not_queued(tmp_path):
    spool = Spool(str(tmp_path / "spool.db"))
    for _ in range(5):
        spool.put([Event("heartbeat", {"version": "x"})])
    spool.put([fim_event(1)])
    kinds = [json.loads(body)["kind"] for _, body in spool.peek(100)]
    assert kinds == ["heartbeat", "fim"]


class FakeResponse:
    def __init__(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
        self.status_code, self._body, self.headers = status, body or {}, headers or {}
        self.text = json.dumps(self._body)

    def json(self) -> dict:
        return self._body


class ScriptedSession:
    """Answers POSTs from a script of statuses; records what was posted."""

    def __init__(self, answer) -> None:
        self.answer, self.posted, self.headers = answer, [], {}

    def post(self, url, data, timeout, verify):
        batch = json.loads(gzip.decompress(data))["events"]
        self.posted.append(batch)
        return self.answer(batch)


def make_sender(spool, session) -> Sender:
    return Sender(spool, "http://127.0.0.1:1", "token", True, batch_size=8, session=session, sleep=lambda s: False)


def test_sender_deletes_only_acknowledged(tmp_path):
    spool = Spool(str(tmp_path / "spool.db"))
    spool.put([fim_event(i) for i in range(5)])
    answers = iter([requests.ConnectionError("refused"), FakeResponse(503), FakeResponse(200, {"accepted": 5})])

    def answer(batch):
        item = next(answers)
        if isinstance(item, Exception):
            raise item
        return item

    sender = make_sender(spool, ScriptedSession(answer))
    assert sender.send(spool.peek(8)) is False and spool.backlog() == 5
    assert sender.send(spool.peek(8)) is False and spool.backlog() == 5
    assert sender.send(spool.peek(8)) is True and spool.backlog() == 0
    assert sender.failures == 0


def test_poison_event_is_isolated_and_buried(tmp_path):
    spool = Spool(str(tmp_path / "spool.db"))
    spool.put([fim_event(i) for i in range(8)])
    poison = "/var/www/html/f5.html"

    def answer(batch):
        if any(e["data"]["path"] == poison for e in batch):
            return FakeResponse(400, {"error": "events[0].data: bad"})
        return FakeResponse(200, {"accepted": len(batch)})

    session = ScriptedSession(answer)
    sender = make_sender(spool, session)
    for _ in range(20):
        rows = spool.peek(sender._limit)
        if not rows:
            break
        sender.send(rows)
    assert spool.backlog() == 0 and spool.dead() == 1
    delivered = [e["data"]["path"] for batch in session.posted for e in batch if e["data"]["path"] != poison]
    assert sorted(set(delivered)) == sorted(f"/var/www/html/f{i}.html" for i in range(8) if i != 5)


def test_backoff_grows_and_is_capped(tmp_path):
    waits: list[float] = []
    spool = Spool(str(tmp_path / "spool.db"))
    sender = Sender(spool, "http://127.0.0.1:1", "t", True, max_backoff=4.0, sleep=lambda s: waits.append(s))
    for _ in range(12):
        sender.failures += 1
        sender._backoff()
    assert waits[0] <= 0.5 and max(waits) <= 4.0 and waits[-1] >= 1.0


def test_sender_thread_ships_to_real_collector(tmp_path, collector, enroll):
    token = enroll()
    spool = Spool(str(tmp_path / "spool.db"))
    spool.put([fim_event(i) for i in range(1200)])
    wake = threading.Event()
    sender = Sender(spool, collector.url, token, True, batch_size=500, wake=wake)
    thread = threading.Thread(target=sender.run, daemon=True)
    thread.start()
    for _ in range(100):
        if spool.backlog() == 0:
            break
        wake.wait(0.05)
    sender.stop()
    thread.join(5)
    assert spool.backlog() == 0 and sender.sent == 1200
    rows = collector.store.query("SELECT COUNT(*) AS n FROM events WHERE agent='web-01'")
    assert rows[0]["n"] == 1200
