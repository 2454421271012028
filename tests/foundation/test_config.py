"""A sysadmin's config mistakes, each refused with exit 2 and the one line they see (file:line: key: reason)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from govwatch.agents.config import load_agent_config
from govwatch.collector.config import load_config
from govwatch.errors import ConfigError

DATA = Path(__file__).parent / "testdata"

AGENT_CASES = {
    "invalid-unknown-key.yml": "invalid-unknown-key.yml:4: spoool: unknown key (allowed here: ",
    "invalid-bad-duration.yml": "invalid-bad-duration.yml:5: collector.timeout: bad duration '5 minutes' "
                                "(use e.g. 500ms, 30s, 5m, 1h)",
    "invalid-wrong-type.yml": "invalid-wrong-type.yml:2: collector.batch_size: must be a whole number (got str 'many')",
    "invalid-missing-collector.yml": "invalid-missing-collector.yml:1: collector: is required",
    "invalid-bad-name.yml": "invalid-bad-name.yml:1: name: must be lowercase letters, digits, '-', '_' or '.' (max 63)",
    "invalid-bad-url.yml": "invalid-bad-url.yml:2: collector.url: must be an http:// or https:// URL "
                           "(got '127.0.0.1:8443')",
    "invalid-yaml.yml": "invalid-yaml.yml:3: not valid YAML: expected ',' or '}', but got '<stream end>'",
    "invalid-not-mapping.yml": "invalid-not-mapping.yml:1: must be a YAML mapping of keys at the top level",
    "invalid-binary.yml": "invalid-binary.yml: not UTF-8 text (byte 0): is this the right file?",
}

COLLECTOR_CASES = {
    "collector-invalid-plain-http.yml": "collector-invalid-plain-http.yml: tls: is required when listening on "
                                        "0.0.0.0 (not loopback); set tls: {cert, key} or allow_plain_http: true",
    "collector-invalid-duplicate-site.yml": "collector-invalid-duplicate-site.yml: sites[1].name: duplicate site "
                                            "name 'moc'",
    "collector-invalid-interval.yml": "collector-invalid-interval.yml:3: sites[0].interval: bad duration 'soon' "
                                      "(use e.g. 500ms, 30s, 5m, 1h)",
    "collector-invalid-size.yml": "collector-invalid-size.yml:2: limits.max_body: bad size 'huge' "
                                  "(use e.g. 512KiB, 64MiB, 1GiB)",
}


@pytest.mark.parametrize("name, message", sorted(AGENT_CASES.items()))
def test_agent_config_errors_name_file_line_key(name, message):
    with pytest.raises(ConfigError) as caught:
        load_agent_config(str(DATA / name))
    assert str(caught.value).replace(str(DATA) + os.sep, "").startswith(message)


@pytest.mark.parametrize("name, message", sorted(COLLECTOR_CASES.items()))
def test_collector_config_errors_name_file_line_key(name, message):
    with pytest.raises(ConfigError) as caught:
        load_config(str(DATA / name))
    assert str(caught.value).replace(str(DATA) + os.sep, "") == message


def test_minimal_agent_config_gets_defaults():
    cfg = load_agent_config(str(DATA / "valid-minimal.yml"))
    assert cfg["heartbeat"] == 10.0 and cfg["collector"]["batch_size"] == 500
    assert cfg["spool"] == str(DATA / "spool.db")


def govwatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "govwatch.cli", *args], capture_output=True, text=True, timeout=60)


def test_agent_check_refuses_typo_with_exit_2_and_one_line(tmp_path):
    config = tmp_path / "agent.yml"
    config.write_text((DATA / "invalid-unknown-key.yml").read_text())
    result = govwatch("agent", "check", "-c", str(config))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"govwatch: {config}:4: spoool: unknown key")


def test_agent_check_accepts_valid_config_and_says_what_is_watched(tmp_path):
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"agent": "web-01", "token": "t"}))
    creds.chmod(0o600)
    config = tmp_path / "agent.yml"
    config.write_text((DATA / "valid-minimal.yml").read_text())
    result = govwatch("agent", "check", "--offline", "-c", str(config))  # no collector runs here
    assert result.returncode == 0, result.stderr
    assert "agent web-01" in result.stdout and "http://127.0.0.1:8443 (not contacted (--offline))" in result.stdout


def test_missing_config_file_is_one_line(tmp_path):
    result = govwatch("agent", "check", "-c", str(tmp_path / "nope.yml"))
    assert result.returncode == 2
    assert result.stderr == f"govwatch: {tmp_path / 'nope.yml'}: cannot read: No such file or directory\n"


def test_every_command_has_help():
    from govwatch.cli import build_parser

    parser = build_parser()
    areas = parser._subparsers._group_actions[0].choices
    assert set(areas) == {"agent", "collector", "fim", "deface", "traffic", "logs", "report"}
    for area, area_parser in areas.items():
        assert govwatch(area, "--help").returncode == 0
        for action in area_parser._subparsers._group_actions if area_parser._subparsers else []:
            for sub in action.choices:
                result = govwatch(area, sub, "--help")
                assert result.returncode == 0 and "usage:" in result.stdout, (area, sub)


def test_bad_arguments_exit_2_with_one_line():
    result = govwatch("collector", "init")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--data-dir" in result.stderr


def test_port_in_use_is_one_line(tmp_path):
    import socket

    import yaml

    from govwatch.collector.init import init_collector

    init_collector(str(tmp_path / "c"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "c" / "collector.yml"
        cfg = yaml.safe_load(config.read_text())
        cfg.update(listen=f"127.0.0.1:{port}", sites=[])
        config.write_text(yaml.safe_dump(cfg))
        result = govwatch("collector", "run", "-c", str(config))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().endswith(f"govwatch: cannot listen on 127.0.0.1:{port}: Address already in use")
