"""Hostile collector.yml files: each refused as one line `file:line: key.path: reason`, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from govwatch.collector.config import load_config
from govwatch.errors import ConfigError

BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n"
               for i in range(9))

CASES = {
    "negative body": ("limits: {max_body: -1}\n", "c.yml:1: limits.max_body: must be at least 1024 (got -1)"),
    "huge threads": ("limits:\n  threads: 1000000000\n",
                     "c.yml:2: limits.threads: must be at most 1024 (got 1000000000)"),
    "5000 digits": ("limits: {threads: " + "9" * 5000 + "}\n",
                    "c.yml:1: limits.threads: number longer than 40 characters"),
    "duplicate top key": ("listen: 127.0.0.1:1\nsites: []\nlisten: 127.0.0.1:2\n",
                          "c.yml:3: listen: written twice (lines 1 and 3); keep one"),
    "duplicate nested key": ("limits:\n  threads: 4\n  threads: 5\n",
                             "c.yml:3: limits.threads: written twice (lines 2 and 3); keep one"),
    "python tag": ('listen: !!python/object/apply:os.system ["id"]\n',
                   "c.yml:1: listen: YAML tag !!python/object/apply:os.system is not allowed; write a plain value"),
    "custom tag": ("sites:\n  - !site {name: a}\n",
                   "c.yml:2: sites[0]: YAML tag !site is not allowed; write a plain value"),
    "deep nesting": ("sites: " + "[" * 5000 + "]" * 5000 + "\n", "c.yml:1: nested deeper than 32 levels"),
    "alias bomb": (BOMB, "c.yml:5: more than 32 YAML aliases (*name); write the values out"),
    "wide bomb": ("a: &a [" + ", ".join(["x"] * 10000) + "]\nb: &b [" + ", ".join(["*a"] * 16) + "]\n"
                  "c: [" + ", ".join(["*b"] * 16) + "]\n",
                  "c.yml:1: c[0][2][9976]: expands to more than 200000 values (alias bomb?)"),
    "infinite float": ("limits: {agent_events_per_second: .inf}\n",
                       "c.yml:1: limits.agent_events_per_second: must be a finite number (got inf)"),
    "nan": ("report: {target: .nan}\n", "c.yml:1: report.target: must be a finite number (got nan)"),
    "target over 100": ("report: {target: 150}\n", "c.yml:1: report.target: must be at most 100 (got 150)"),
    "negative duration": ("retention: {events: -5}\n", "c.yml:1: retention.events: must be at least 3600 (got -5)"),
    "complex key": ("? [a, b]\n: 1\n", "c.yml:1: a key must be a plain word, not a list or mapping"),
    "bad status": ("sites:\n  - name: a\n    url: http://127.0.0.1/\n    expect_status: [200, 999]\n",
                   "c.yml:4: sites[0].expect_status[1]: must be at most 599 (got 999)"),
}


@pytest.mark.parametrize("text, message", CASES.values(), ids=list(CASES))
def test_hostile_yaml_is_one_line_with_place(tmp_path, text, message):
    path = tmp_path / "c.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert str(caught.value).replace(str(tmp_path) + "/", "") == message


def test_alias_bomb_through_the_cli_ends_with_exit_2_and_no_traceback(tmp_path):
    path = tmp_path / "bomb.yml"
    path.write_text(BOMB)
    result = subprocess.run([sys.executable, "-m", "govwatch.cli", "collector", "check", "-c", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == f"govwatch: {path}:5: more than 32 YAML aliases (*name); write the values out\n"


def test_few_aliases_still_work(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("sites:\n  - &s {name: a, url: 'http://127.0.0.1/', interval: 5s}\n"
                    "  - {<<: *s, name: b}\n")
    cfg = load_config(str(path))
    assert [(s["name"], s["interval"]) for s in cfg["sites"]] == [("a", 5.0), ("b", 5.0)]


def test_oversized_file_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("# " + "x" * (5 * 2**20) + "\n")
    with pytest.raises(ConfigError, match=r"c.yml: larger than 4 MiB: is this the right file\?"):
        load_config(str(path))
