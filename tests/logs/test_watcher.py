"""The live `logs` watcher: findings as events, the FIM join on the agent, the journal, restarts, config."""

from __future__ import annotations

import json
import os
import queue
import sys
import time

import loggen as g
import pytest

from govwatch.agents.config import load_agent_config
from govwatch.agents.logs.watcher import SCHEMA, LogsWatcher
from govwatch.errors import ConfigError
from govwatch.events import KINDS, Event, check_event
from govwatch.schema import validate

RULES = os.path.join(os.path.dirname(__file__), "..", "..", "rules", "logs")


class Live:
    """A started watcher whose events land in a queue."""

    def __init__(self, tmp_path, journal=None, **section) -> None:
        cfg = validate({"rules": RULES, "poll_interval": "50ms", "update_interval": "1s", **section}, SCHEMA,
                       "agent.yml")
        kwargs = {"journal": journal} if journal else {}
        self.watcher = LogsWatcher(cfg, {"data_dir": str(tmp_path / "state")}, **kwargs)
        self.events: queue.Queue[Event] = queue.Queue()
        self.watcher.start(self.events.put)
        assert self.watcher.ready.wait(10)

    def wait(self, predicate, timeout: float = 20.0) -> list[Event]:
        seen: list[Event] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                seen.append(self.events.get(timeout=0.2))
            except queue.Empty:
                pass
            if predicate(seen):
                return seen
        pytest.fail(f"condition not met; events: {[(e.data.get('kind'), e.data.get('state')) for e in seen]}")

    def stop(self) -> None:
        self.watcher.stop()


def append(path, lines: list[str]) -> None:
    with open(path, "a") as handle:
        handle.write("\n".join(lines) + "\n")


def kinds(events: list[Event], state: str = "start") -> list[str]:
    return [e.data["kind"] for e in events if e.kind == "logs" and e.data["state"] == state]


def test_brute_force_appended_to_a_followed_log_is_one_event_the_collector_accepts(tmp_path) -> None:
    log = tmp_path / "access.log"
    append(log, g.news_day(hours=0.1))            # history before the agent started: not re-read
    live = Live(tmp_path, access=[{"path": str(log)}])
    try:
        append(log, g.wordpress_brute(start=time.time()))
        events = live.wait(lambda ev: "web_brute_force" in kinds(ev))
        start = next(e for e in events if e.kind == "logs")
        assert start.severity == "high" and start.data["src"] == "203.0.113.7"
        assert "logs" in KINDS and check_event(start.to_dict(), 0)["kind"] == "logs"
        assert "login guessing from 203.0.113.7" in start.summary
        deadline = time.monotonic() + 10
        while live.watcher.stats()["lines"] < 41 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.watcher.stats()["lines"] == 41
    finally:
        live.stop()


def test_fim_created_script_then_requested_is_webshell_use(tmp_path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    root = tmp_path / "www"
    live = Live(tmp_path, access=[{"path": str(log), "root": str(root)}])
    try:
        live.watcher.observe(Event("fim", {"path": f"{root}/news/img.php", "change": "created", "root": str(root)},
                                   "critical", ts=time.time()))
        append(log, [g.nginx(time.time(), "203.0.113.66", "GET", "/news/img.php?c=id", 200, 30)])
        events = live.wait(lambda ev: "webshell_use" in kinds(ev))
        shell = next(e for e in events if e.kind == "logs")
        assert shell.severity == "critical"
        assert shell.data["evidence"]["file"] == f"{root}/news/img.php"
        assert shell.data["evidence"]["sample"][0]["target"] == "/news/img.php?c=id"
    finally:
        live.stop()


def test_updates_carry_only_new_requests_and_the_end_closes(tmp_path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    live = Live(tmp_path, access=[{"path": str(log)}])
    try:
        now = time.time()
        append(log, [g.nginx(now, "203.0.113.66", "POST", "/uploads/x.php", 200, 30)])
        live.wait(lambda ev: "webshell_use" in kinds(ev))
        append(log, [g.nginx(now + 1, "203.0.113.66", "POST", "/uploads/x.php", 200, 30)])
        events = live.wait(lambda ev: "webshell_use" in kinds(ev, "update"))
        update = next(e for e in events if e.kind == "logs" and e.data["state"] == "update")
        assert len(update.data["evidence"]["sample"]) == 1 and update.data["evidence"]["requests"] == 2
    finally:
        live.stop()


def test_restart_reads_lines_written_while_stopped_once(tmp_path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    live = Live(tmp_path, access=[{"path": str(log)}])
    append(log, [g.nginx(time.time(), "192.0.2.1", "GET", "/", 200)] * 3)
    deadline = time.monotonic() + 10
    while live.watcher.stats()["lines"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    live.stop()
    append(log, [g.nginx(time.time(), "192.0.2.1", "GET", "/", 200)] * 4)   # while stopped
    again = Live(tmp_path, access=[{"path": str(log)}])
    try:
        deadline = time.monotonic() + 10
        while again.watcher.stats()["lines"] < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert again.watcher.stats()["lines"] == 4
    finally:
        again.stop()


def test_journal_records_and_cursor(tmp_path) -> None:
    script = tmp_path / "fake-journalctl"
    entries = [{"__CURSOR": f"s=abc;i={i}", "__REALTIME_TIMESTAMP": str(int((time.time() + i) * 1e6)),
                "SYSLOG_IDENTIFIER": "sshd",
                "MESSAGE": f"Failed password for root from 203.0.113.99 port {4000 + i} ssh2"}
               for i in range(8)]
    script.write_text("#!/bin/sh\necho \"$@\" > " + str(tmp_path / "args") + "\ncat <<'EOF'\n"
                      + "\n".join(json.dumps(e) for e in entries) + "\nEOF\nexec sleep 60\n")
    script.chmod(0o755)
    live = Live(tmp_path, journal=lambda cursor: [str(script), *(["--after-cursor", cursor] if cursor else [])],
                auth={"journal": True})
    try:
        events = live.wait(lambda ev: "ssh_brute_force" in kinds(ev))
        assert next(e for e in events if e.kind == "logs").data["evidence"]["failures"] == 6
    finally:
        live.stop()
    saved = json.loads((tmp_path / "state" / "logs-positions.json").read_text())
    assert saved["journal"] == "s=abc;i=7"


def test_missing_journalctl_is_reported_not_fatal(tmp_path) -> None:
    live = Live(tmp_path, journal=lambda cursor: [str(tmp_path / "no-such-journalctl")], auth={"journal": True})
    try:
        assert "cannot run journalctl" in live.watcher.stats()["journal_problem"]
    finally:
        live.stop()


BASE = {"name": "web-01", "collector": {"url": "http://127.0.0.1:1", "credentials": "c.json"}}


@pytest.mark.parametrize("section,message", [
    ({}, "logs: give access logs, auth, or both"),
    ({"access": [{"path": "access.log"}]}, "logs.access[0].path: must be an absolute path"),
    ({"access": [{"path": "/var/log/a.log", "format": "plain"}]}, "logs.access[0].format: format 'plain' has no"),
    ({"access": [{"path": "/var/log/a.log", "format": "$remote_addr [$time_local]"}]}, "must carry the client"),
    ({"access": [{"path": "/var/log/a.log", "fmt": "nginx"}]}, "logs.access[0].fmt: unknown key"),
    ({"auth": {}}, "logs.auth: give either path"),
    ({"auth": {"path": "/var/log/auth.log", "journal": True}}, "logs.auth: give either path"),
    ({"auth": {"journal": "yes"}}, "logs.auth.journal: must be true or false"),
    ({"access": [{"path": "/a.log"}], "trusted": ["10.0.0.0/33"]}, "logs.trusted[0]: not an address or CIDR"),
    ({"access": [{"path": "/a.log"}], "login_paths": ["admin"]}, "logs.login_paths[0]: must be a URL path"),
    ({"access": [{"path": "/a.log"}], "max_line": "100B"}, "logs.max_line: must be at least 1024"),
    ({"access": [{"path": "/a.log"}], "poll_interval": "soon"}, "logs.poll_interval: bad duration"),
    ({"access": [{"path": "/a.log"}], "max_sources": 10}, "logs.max_sources: must be at least 100"),
    ({"access": "/var/log/nginx/access.log"}, "logs.access: must be a list"),
])
def test_bad_logs_config_is_refused_with_file_and_key(tmp_path, section, message) -> None:
    import yaml
    path = tmp_path / "agent.yml"
    path.write_text(yaml.safe_dump({**BASE, "logs": section}))
    with pytest.raises(ConfigError) as info:
        load_agent_config(str(path))
    assert message in str(info.value) and str(path) in str(info.value)


def test_good_logs_config_is_described_by_agent_check(tmp_path) -> None:
    import subprocess

    import yaml
    (tmp_path / "c.json").write_text('{"token": "x"}')
    path = tmp_path / "agent.yml"
    access, auth = tmp_path / "access.log", tmp_path / "auth.log"
    access.write_text("")
    path.write_text(yaml.safe_dump({**BASE, "logs": {"access": [{"path": str(access)}], "auth": {"path": str(auth)}}}))
    done = subprocess.run([sys.executable, "-m", "govwatch.cli", "agent", "check", "--offline", "-c", str(path)],
                          capture_output=True, text=True)
    assert f"logs: {access} (nginx)" in done.stdout + done.stderr
    assert f"logs: sshd from {auth}" in done.stdout + done.stderr


def test_agent_check_refuses_a_log_whose_folder_does_not_exist(tmp_path) -> None:
    import subprocess

    import yaml
    (tmp_path / "c.json").write_text('{"token": "x"}')
    path = tmp_path / "agent.yml"
    missing = tmp_path / "nowhere" / "access.log"
    path.write_text(yaml.safe_dump({**BASE, "logs": {"access": [{"path": str(missing)}]}}))
    done = subprocess.run([sys.executable, "-m", "govwatch.cli", "agent", "check", "--offline", "-c", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert f"logs.access[0].path: neither {missing} nor its folder exists" in done.stderr


def test_a_log_in_the_wrong_format_is_reported_once(tmp_path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    live = Live(tmp_path, access=[{"path": str(log), "format": "apache"}])
    try:
        append(log, ['{"time": "2026-12-01T10:00:00Z", "remote_addr": "192.0.2.1", "request": "GET /"}'] * 300)
        events = live.wait(lambda ev: any(e.kind == "agent" for e in ev))
        notice = next(e for e in events if e.kind == "agent")
        assert notice.data["problem"] == "log_format_mismatch"
        assert "do not fit the configured format" in notice.data["detail"]
        deadline = time.monotonic() + 10
        while live.watcher.stats()["unparsed"] < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.watcher.stats()["unparsed"] == 300 and len(live.watcher.stats()["unparsed_sample"]) == 5
        assert [e.kind for e in live.events.queue].count("agent") == 0   # once
    finally:
        live.stop()


def test_requests_read_before_fims_report_still_join(tmp_path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    root = tmp_path / "www"
    live = Live(tmp_path, access=[{"path": str(log), "root": str(root)}])
    try:
        now = time.time()
        append(log, [g.nginx(now, "203.0.113.66", "GET", "/x.php?c=id", 200, 30)])
        deadline = time.monotonic() + 10
        while live.watcher.stats()["lines"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        live.watcher.observe(Event("fim", {"path": f"{root}/x.php", "change": "created", "root": str(root)},
                                   "critical", ts=now + 0.5))
        events = live.wait(lambda ev: "webshell_use" in kinds(ev))
        assert next(e for e in events if e.kind == "logs").data["evidence"]["file"] == f"{root}/x.php"
    finally:
        live.stop()


def test_journal_starts_from_now_or_after_the_saved_cursor() -> None:
    from govwatch.agents.logs.journal import journal_command
    fresh, resumed = journal_command(None), journal_command("s=1;i=2")
    assert fresh[-4:-2] == ["-n", "0"] and "--no-tail" not in fresh
    assert resumed[resumed.index("--after-cursor") + 1] == "s=1;i=2" and "--no-tail" in resumed
    assert "SYSLOG_IDENTIFIER=sshd" in fresh and "SYSLOG_IDENTIFIER=sshd-session" in fresh


def test_real_journalctl_runs_and_stops_cleanly(tmp_path) -> None:
    import shutil
    if shutil.which("journalctl") is None:
        pytest.skip("journalctl is not installed")
    live = Live(tmp_path, auth={"journal": True})
    try:
        time.sleep(0.5)
        assert live.watcher.stats()["lines"] >= 0 and "journal_problem" not in live.watcher.stats()
    finally:
        live.stop()


def heavy_api(start: float, minutes: int) -> list[str]:
    """An internal application polling one path at 50 requests/s from 5 addresses: heavy, but normal."""
    return [g.nginx(start + i / 50, f"192.0.2.{i % 5 + 1}", "GET", "/api/status", 200, 80)
            for i in range(minutes * 3000)]


def test_learned_per_path_baselines_survive_a_restart(tmp_path) -> None:
    from govwatch.agents.logs import rules as log_rules
    from govwatch.agents.logs.engine import Engine
    rules = log_rules.load(RULES)
    first = Engine(rules, lambda state, f: None)
    feed = first.access_handler("nginx")
    for line in heavy_api(g.T0, 10):
        feed(line)
    assert first.findings.total == 1            # a heavy path never seen before: flagged once, then learned
    fresh, remembered = Engine(rules, lambda s, f: None), Engine(rules, lambda s, f: None)
    remembered.web.flood.load_baselines(dict(first.web.flood.baseline))
    for engine in (fresh, remembered):
        handle = engine.access_handler("nginx")
        for line in heavy_api(g.T0 + 3600, 2):
            handle(line)
    assert (fresh.findings.total, remembered.findings.total) == (1, 0)


def test_watcher_saves_baselines_with_positions_and_ignores_a_spoiled_state_file(tmp_path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    live = Live(tmp_path, access=[{"path": str(log)}])
    live.watcher.engine.web.flood.baseline["/news/"] = 42.0
    live.stop()
    state = tmp_path / "state" / "logs-positions.json"
    saved = json.loads(state.read_text())
    assert list(saved["baselines"]) == ["/news/"] and saved[str(log)]["offset"] == 0
    again = Live(tmp_path, access=[{"path": str(log)}])
    try:
        learned = again.watcher.engine.web.flood.baseline
        assert list(learned) == ["/news/"] and 30 < learned["/news/"] <= 42   # decays as quiet windows pass
    finally:
        again.stop()
    state.write_text(json.dumps({str(log): {"offset": "x"}, "baselines": {"/a": "many"}}))
    spoiled = Live(tmp_path, access=[{"path": str(log)}])
    try:
        append(log, [g.nginx(time.time(), "192.0.2.1", "GET", "/", 200)])
        deadline = time.monotonic() + 10
        while spoiled.watcher.stats()["lines"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert spoiled.watcher.stats()["lines"] == 1 and spoiled.watcher.engine.web.flood.baseline == {}
    finally:
        spoiled.stop()
