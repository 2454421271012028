"""Hostile input: lines built to make a backtracking parser hang, binary junk, huge lines, bad encodings —
each is judged or counted as unparsable, never a crash; rules are refused at file:line."""

from __future__ import annotations

import os
import shutil

import loggen as g
import pytest

from govwatch.agents.logs import rules as log_rules
from govwatch.agents.logs.analyze import analyze
from govwatch.agents.logs.auth import journal_record, syslog_record
from govwatch.agents.logs.formats import PRESETS, build_parser
from govwatch.errors import ConfigError

RULES = os.path.join(os.path.dirname(__file__), "..", "..", "rules", "logs")
STAMP = g.clf(g.T0)
HOSTILE = [
    "1.2.3.4 - - [" + STAMP + '] "' + "\\" * 15000 + '"',            # escapes with no closing quote
    "1.2.3.4 - - [" + STAMP + '] "' + '\\"' * 7000 + " 200 1",
    "1.2.3.4 " * 2000,
    "[" * 15000,
    '1.2.3.4 - - [' + STAMP + '] "GET / HTTP/1.1" 200 1 "' + '"' * 14000,
    "\x00\x01\x02\xff" * 1000,
    "1.2.3.4 - - [99/Xyz/2026:99:99:99 +0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
    "1.2.3.4 - - [" + STAMP + '] "\\x16\\x03\\x01\\x02\\x00\\x01" 400 157 "-" "-"',   # TLS hello on port 80
]


@pytest.mark.parametrize("fmt", sorted(PRESETS))
def test_hostile_lines_never_raise(fmt) -> None:
    parse = build_parser(fmt)
    for line in HOSTILE:
        parse(line)   # a Request or None; time is linear (possessive classes), so this returns promptly
    assert parse(HOSTILE[-1]).status == 400


def test_hostile_file_is_counted_not_fatal(tmp_path) -> None:
    path = tmp_path / "access.log"
    with open(path, "wb") as handle:
        for line in HOSTILE:
            handle.write(line.encode("utf-8", "surrogateescape") + b"\n")
        handle.write(b"\xc3\x28 invalid utf-8\n" + b"A" * 100_000 + b"\n")
        handle.write(g.nginx(g.T0, "192.0.2.1", "GET", "/", 200).encode() + b"\n")
    summary = analyze([str(path)], log_rules.load(RULES), lambda f: None, "nginx")
    assert summary.lines == len(HOSTILE) + 2        # the 100 kB line is cut and counted, not a line judged
    assert summary.unparsed >= 6 and summary.findings == 0


def test_hostile_auth_lines() -> None:
    assert syslog_record("Dec  1 20:40:36 web sshd[1]: Failed password for " + "x " * 10000) is None
    assert syslog_record("Xyz 99 99:99:99 web sshd[1]: Failed password for root from 1.2.3.4 port 1 ssh2") is None
    assert journal_record("[" * 10000)[0] is None
    assert journal_record('{"MESSAGE": [70, 97, 105, 108, 999]}')[0] is None
    record, _cursor = journal_record('{"MESSAGE": "Invalid user ' + "u" * 500 + ' from 1.2.3.4 port 2"}')
    assert record is not None and len(record.user) == 64


def test_bounded_state_under_a_spoofed_sweep(tmp_path) -> None:
    lines = [g.nginx(g.T0 + i / 1000, f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "POST", "/wp-login.php", 200)
             for i in range(30000)]
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n")
    from govwatch.agents.logs.engine import Engine
    engine = Engine(log_rules.load(RULES), lambda state, f: None, max_sources=1000)
    handle = engine.access_handler("nginx")
    for line in lines:
        handle(line)
    assert len(engine.web.login_state) <= 1000 and engine.web.login_state.refused > 0
    assert len(engine.web.flood.sources) <= 1000


def test_shipped_rules_are_valid_and_their_tests_pass() -> None:
    loaded = log_rules.load(RULES)
    assert sorted(loaded) == sorted(log_rules.KINDS)
    assert log_rules.self_test(loaded) == []
    for rule in loaded.values():
        assert {t["expect"] for t in rule.rule.tests} == {"match", "no_match"}, rule.rule.file
    assert len({r.rule.id for r in loaded.values()}) == len(loaded)


@pytest.mark.parametrize("file,edit,message", [
    ("logs_ssh_brute_force.yml", ("min_failures: 6", "min_failure: 6"), "unknown parameter for ssh_brute_force"),
    ("logs_ssh_brute_force.yml", ("detector: ssh_brute_force", "detector: ssh_storm"), "detector: must be one of"),
    ("logs_ssh_brute_force.yml", ("min_failures: 6", "min_failures: many"), "must be a non-negative number"),
    ("logs_ssh_brute_force.yml", ("severity: high", "severity: huge"), "severity: must be one of"),
    ("logs_webshell_use.yml", ("min_requests: 1", "min_requests: [1]"), "must be a non-negative number"),
    ("logs_vuln_probe.yml", ("min_probes: 5", "patterns: {x: [1]}"), "must map a category to a list"),
])
def test_malformed_rule_refused_with_file_and_line(tmp_path, file, edit, message) -> None:
    folder = tmp_path / "logs"
    shutil.copytree(RULES, folder)
    path = folder / file
    path.write_text(path.read_text().replace(*edit))
    with pytest.raises(ConfigError) as info:
        log_rules.load(str(folder))
    assert message in str(info.value) and f"{file}:" in str(info.value)


def test_failing_rule_test_is_reported(tmp_path) -> None:
    folder = tmp_path / "logs"
    shutil.copytree(RULES, folder)
    path = folder / "logs_ssh_user_sweep.yml"
    path.write_text(path.read_text().replace("min_invalid_users: 5", "min_invalid_users: 50"))
    failures = log_rules.self_test(log_rules.load(str(folder)))
    assert len(failures) == 1 and "logs_ssh_user_sweep.yml" in failures[0]


def test_user_names_cannot_hide_or_spoof_the_source() -> None:
    line = ("Dec  1 20:40:36 web sshd[1]: Failed password for invalid user a b from 192.0.2.1 port 1 "
            "from 203.0.113.9 port 4242 ssh2")
    record = syslog_record(line)
    assert record is not None and record.src == "203.0.113.9" and record.outcome == "invalid_user"


def test_long_unique_targets_do_not_fill_memory() -> None:
    from govwatch.agents.logs.engine import Engine
    engine = Engine(log_rules.load(RULES), lambda state, f: None)
    handle = engine.access_handler("nginx")
    for i in range(2000):
        target = f"/.env?{i}" + "x" * 8000
        handle(g.nginx(g.T0 + i, "203.0.113.5", "GET", target, 404, 0, ua="u" * 4000 + str(i)))
    assert engine.web.probe_cache == {} and engine.web.ua_cache == {}
    assert len(engine.web.probe_state.items["203.0.113.5"][1]) <= 32
    assert engine.findings.total == 1
