"""dashboards/*.json: valid Grafana dashboards whose every PromQL expression parses (promtool) and uses
only metrics the collector exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from .conftest import DASHBOARDS, METRIC_NAME, exported_metrics, run_tool

# Grafana's built-in variables, replaced by something of the same PromQL type before parsing.
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "30d", "${__range}": "30d"}


def dashboards() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def panels(board: dict) -> list[dict]:
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found += panel.get("panels", [])
    return found


def expressions(board: dict) -> list[tuple[str, str]]:
    """(panel title, expr) for every query, including template variable queries."""
    out = [(p["title"], t["expr"]) for p in panels(board) for t in p.get("targets", [])]
    for var in board.get("templating", {}).get("list", []):
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
        if match:
            out.append((f"variable {var['name']}", match.group(1)))
    return out


def substitute(expr: str, variables: set[str]) -> str:
    for name, value in GRAFANA_VARS.items():
        expr = expr.replace(name, value)
    for name in variables:
        expr = expr.replace(f"${{{name}}}", ".*").replace(f"${name}", ".*")
    return expr


def test_there_is_a_security_and_an_availability_dashboard():
    titles = {json.loads(p.read_text())["title"] for p in dashboards()}
    assert any("Security" in t for t in titles) and any("Availability" in t for t in titles)


@pytest.mark.parametrize("path", dashboards(), ids=lambda p: p.name)
def test_dashboard_is_provisionable(path):
    board = json.loads(path.read_text(encoding="utf-8"))
    assert board["uid"] and board["title"] and board["panels"]
    assert "id" not in board or board["id"] is None  # provisioning assigns ids
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels(board):
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"]["uid"] == "govwatch-prometheus", panel["title"]
            assert 0 <= panel["gridPos"]["x"] and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


@pytest.mark.parametrize("path", dashboards(), ids=lambda p: p.name)
def test_every_expression_parses(path, tmp_path):
    """promtool parses each expression as a recording rule: a PromQL syntax error fails the check."""
    board = json.loads(path.read_text(encoding="utf-8"))
    variables = {v["name"] for v in board.get("templating", {}).get("list", [])}
    exprs = expressions(board)
    rules = [{"record": f"dashboard:expr_{i}", "expr": substitute(e, variables)} for i, (_, e) in enumerate(exprs)]
    rule_file = tmp_path / "exprs.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": path.stem, "rules": rules}]}))
    result = run_tool("promtool", "check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    leftovers = [e for _, e in exprs if "$" in substitute(e, variables)]
    assert not leftovers, f"expressions use undefined variables: {leftovers}"


def test_the_parse_check_does_catch_a_broken_expression(tmp_path):
    rule_file = tmp_path / "bad.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
        {"record": "bad", "expr": "sum by (site (govwatch_site_up)"}]}]}))
    assert run_tool("promtool", "check", "rules", str(rule_file)).returncode != 0


@pytest.mark.parametrize("path", dashboards(), ids=lambda p: p.name)
def test_every_metric_a_panel_uses_is_exported(path):
    board = json.loads(path.read_text(encoding="utf-8"))
    exported = set(exported_metrics())
    for title, expr in expressions(board):
        unknown = set(METRIC_NAME.findall(expr)) - exported
        assert not unknown, f"panel {title!r} uses metrics the collector does not export: {unknown}"
