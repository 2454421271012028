"""Agent failover between collector URLs: the chooser's order, backoff and return to the preferred one; the
sender's switching rules (whose fault a failure is); agent.yml's list of URLs refused at the right line."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from govwatch.agents.config import load_agent_config
from govwatch.agents.failover import CollectorChooser
from govwatch.agents.sender import Sender
from govwatch.agents.spool import Spool
from govwatch.errors import ConfigError
from govwatch.events import Event

A, B, C = "http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9003"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_chooser_sticks_to_the_first_and_moves_in_order():
    chooser = CollectorChooser([A, B, C], clock=Clock())
    assert chooser.current == A
    for _ in range(5):
        chooser.succeeded()
    assert chooser.current == A and chooser.switches == 0
    assert chooser.failed("connection refused") is False and chooser.current == B
    assert chooser.failed("timed out") is False and chooser.current == C
    assert chooser.switches == 2


def test_chooser_backs_off_only_after_every_url_failed_in_a_row():
    chooser = CollectorChooser([A, B], clock=Clock())
    assert chooser.failed("refused") is False        # A failed: try B at once
    assert chooser.failed("refused") is True         # B failed too: now wait
    assert chooser.current == A
    assert chooser.failed("refused") is True         # still no success since: keep backing off
    chooser.succeeded()
    assert chooser.failed("refused") is False        # a success resets the round


def test_single_url_backs_off_at_every_failure():
    chooser = CollectorChooser([A], clock=Clock())
    assert chooser.failed("refused") is True and chooser.current == A and chooser.switches == 0


def test_chooser_returns_to_the_preferred_after_return_after_when_it_is_ready():
    clock = Clock()
    chooser = CollectorChooser([A, B], return_after=300, clock=clock)
    chooser.failed("refused")
    chooser.succeeded()
    clock.now += 299
    assert not chooser.due_for_preferred()
    clock.now += 1
    assert chooser.due_for_preferred()
    chooser.preferred_answered(False, "connection refused")  # not back yet: stay, ask again later
    assert chooser.current == B and not chooser.due_for_preferred()
    clock.now += 300
    assert chooser.due_for_preferred()
    chooser.preferred_answered(True)
    assert chooser.current == A and chooser.switches == 2 and not chooser.due_for_preferred()


def test_chooser_never_returns_while_the_other_is_failing_too():
    clock = Clock()
    chooser = CollectorChooser([A, B], return_after=10, clock=clock)
    chooser.failed("refused")            # on B, but B has not answered yet
    clock.now += 100
    assert not chooser.due_for_preferred()


def test_each_switch_is_one_log_line(caplog):
    chooser = CollectorChooser([A, B], clock=Clock())
    with caplog.at_level(logging.WARNING, "govwatch.agent.sender"):
        chooser.failed("connection refused")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"collector switch: {A} -> {B}: {A} failed (connection refused)"]


class Response:
    def __init__(self, status: int, body: dict | None = None) -> None:
        self.status_code, self._body, self.headers = status, body or {}, {}
        self.text = json.dumps(self._body)

    def json(self) -> dict:
        return self._body


class TwoCollectors:
    """A session whose answer depends on which collector URL is asked; records (url, ids) of each POST."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers, self.posted, self.probed, self.headers = answers, [], [], {}

    def _answer(self, url: str, batch: list | None) -> Response:
        answer = self.answers[url.split("/api/")[0].split("/readyz")[0]]
        if callable(answer):
            answer = answer(batch)
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, Response) else Response(int(answer), {"accepted": len(batch or [])})

    def post(self, url, data, timeout, verify):
        batch = json.loads(gzip.decompress(data))["events"]
        self.posted.append((url.split("/api/")[0], [e["id"] for e in batch]))
        return self._answer(url, batch)

    def get(self, url, timeout, verify):
        self.probed.append(url)
        return self._answer(url, None)


def spool_with(tmp_path: Path, n: int) -> Spool:
    spool = Spool(str(tmp_path / "spool.db"))
    spool.put([Event("fim", {"path": f"/var/www/html/f{i}.html", "change": "created"}, "high") for i in range(n)])
    return spool


def make_sender(spool: Spool, session: TwoCollectors, waits: list[float] | None = None) -> Sender:
    return Sender(spool, [A, B], "token", True, batch_size=10, session=session,
                  sleep=lambda s: (waits.append(s) if waits is not None else None) or False)


@pytest.mark.parametrize("failure", [requests.ConnectionError("refused"), requests.Timeout("read timed out"),
                                     503, 500, 502, 408, 401, 404])
def test_sender_moves_to_the_next_collector_when_the_current_one_fails(tmp_path, failure):
    spool = spool_with(tmp_path, 3)
    session = TwoCollectors({A: failure, B: 200})
    sender = make_sender(spool, session)
    assert sender.send(spool.peek(10)) is False and spool.backlog() == 3
    assert sender._retry_now, "the next collector is tried at once, without a backoff"
    assert sender.send(spool.peek(10)) is True and spool.backlog() == 0
    assert [url for url, _ in session.posted] == [A, B]
    assert session.posted[0][1] == session.posted[1][1], "the same batch, same ids, goes to the other collector"


@pytest.mark.parametrize("status", [400, 413, 422, 429])
def test_refusals_and_rate_limits_do_not_switch(tmp_path, status):
    spool = spool_with(tmp_path, 1)
    session = TwoCollectors({A: Response(status, {"error": "no"}), B: 200})
    sender = make_sender(spool, session)
    sender.send(spool.peek(10))
    assert sender.chooser.current == A and sender.chooser.switches == 0


def test_run_loop_backs_off_only_when_both_collectors_failed(tmp_path):
    spool = spool_with(tmp_path, 2)
    answers = iter([requests.ConnectionError("refused"), requests.ConnectionError("refused"), 200])
    session = TwoCollectors({A: lambda batch: next(answers), B: lambda batch: next(answers)})
    waits: list[float] = []
    sender = make_sender(spool, session, waits)
    for _ in range(3):
        moved = sender._step()
        if not moved and not sender._retry_now:
            sender._backoff()
    assert [url for url, _ in session.posted] == [A, B, A]
    assert len(waits) == 1, "one backoff, after both URLs failed"
    assert spool.backlog() == 0


def test_sender_probes_the_preferred_collector_and_goes_back(tmp_path):
    clock = Clock()
    spool = spool_with(tmp_path, 30)
    state = {"a": requests.ConnectionError("refused")}
    session = TwoCollectors({A: lambda batch: state["a"], B: 200})
    sender = make_sender(spool, session)
    sender.chooser.clock = clock
    sender.send(spool.peek(10))                 # A refuses: switch to B
    sender.send(spool.peek(10))                 # B takes it
    clock.now += 301
    state["a"] = Response(503)                  # A answers but is not ready: stay on B
    sender.send(spool.peek(10))
    assert session.probed == [f"{A}/readyz"] and sender.chooser.current == B
    clock.now += 301
    state["a"] = 200
    sender.send(spool.peek(10))
    assert session.probed[-1] == f"{A}/readyz" and sender.chooser.current == A
    assert [url for url, _ in session.posted] == [A, B, B, A] and spool.backlog() == 0


def write_agent(tmp_path: Path, url_block: str) -> str:
    (tmp_path / "cred.json").write_text('{"token": "t"}')
    path = tmp_path / "agent.yml"
    path.write_text(f"name: web-01\ncollector:\n{url_block}  credentials: cred.json\nspool: {tmp_path}/spool.db\n")
    return str(path)


def test_config_takes_one_url_or_a_list(tmp_path):
    one = load_agent_config(write_agent(tmp_path, f"  url: {A}/\n"))
    assert one["collector"]["urls"] == [A] and one["collector"]["url"] == A
    two = load_agent_config(write_agent(tmp_path, f"  url:\n    - {A}\n    - {B}\n"))
    assert two["collector"]["urls"] == [A, B] and two["collector"]["url"] == A
    flow = load_agent_config(write_agent(tmp_path, f"  url: [{A}, {B}, {C}]\n"))
    assert flow["collector"]["urls"] == [A, B, C]


@pytest.mark.parametrize("block, message", [
    (f"  url:\n    - {A}\n    - {B}\n    - {A}/\n",
     f"agent.yml:6: collector.url[2]: {A} is listed twice (also collector.url[0]); keep one"),
    (f"  url:\n    - {A}\n    - 127.0.0.1:9002\n",
     "agent.yml:5: collector.url[1]: must be an http:// or https:// URL (got '127.0.0.1:9002')"),
    (f"  url:\n    - {A}\n    - 8443\n", "agent.yml:5: collector.url[1]: must be a URL string (got int)"),
    ("  url: []\n", "agent.yml:3: collector.url: must be a URL or a non-empty list of URLs"),
    ("  url: {a: 1}\n", "agent.yml:3: collector.url: must be a URL or a list of URLs (got dict)"),
    ("  url: ftp://x\n", "agent.yml:3: collector.url: must be an http:// or https:// URL (got 'ftp://x')"),
])
def test_config_refuses_bad_lists_at_the_line(tmp_path, block, message):
    with pytest.raises(ConfigError) as caught:
        load_agent_config(write_agent(tmp_path, block))
    assert str(caught.value).endswith(message), str(caught.value)


def agent_check(config: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "govwatch.cli", "agent", "check", "-c", config],
                          capture_output=True, text=True, timeout=120)


def test_agent_check_reaches_every_url_and_says_which_answered(tmp_path, collector, enroll):
    (tmp_path / "cred.json").write_text(json.dumps({"token": enroll()}))
    dead = f"http://127.0.0.1:{free_port()}"
    path = tmp_path / "agent.yml"
    path.write_text(f"name: web-01\ncollector: {{url: [{collector.url}, {dead}], credentials: cred.json}}\n"
                    f"spool: {tmp_path}/spool.db\n")
    result = agent_check(str(path))
    assert result.returncode == 0, result.stderr
    assert f"1. {collector.url}" in result.stdout and f"2. {dead}" in result.stdout
    assert f"{collector.url} (preferred): answered and accepts the credentials (collector " in result.stdout
    assert f"warning: collector.url[1]: nothing answers at {dead.split('//')[1]}" in result.stdout

    path.write_text(f"name: web-01\ncollector: {{url: [{dead}, {dead}/x], credentials: cred.json}}\n"
                    f"spool: {tmp_path}/spool.db\n")
    result = agent_check(str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split(": ")[2] for line in lines] == ["collector.url[0]", "collector.url[1]"], lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
