"""Two collectors in one scrape job must look like one to every alert rule and dashboard panel.

In the HA layout every collector exports the same store-derived series, so Prometheus holds each of them twice,
differing only by `instance`. For each alert expression and each dashboard query, promtool evaluates it over a
one-collector world and over a two-collector world with the same data; the results must be identical (no
doubled sums, no per-collector duplicates, no many-to-many join error). promtool is the evaluator: it prints
what an expression returned when the expected samples differ, and every query here is given an impossible
expectation on purpose so that it prints.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from .conftest import METRIC_NAME, RULES, exported_metrics, run_tool
from .test_dashboards import dashboards, expressions, substitute

COLLECTORS = ("collector-a:8443", "collector-b:8443")
# Per-collector on purpose: each collector is its own target to be told about.
PER_COLLECTOR = {"CollectorDown"}
VALUES = {"severity": ("critical", "low"), "change": ("created", "modified"), "kind": ("syn_flood", "port_scan")}
POINTS = 60
EVAL_AT = "30m"
MARKER = 'not_a_result{never="matches"}'
RESULT = re.compile(r"\{([^{}]*)\} (\S+?)(?:, |$)")


def series(instances: tuple[str, ...]) -> list[dict]:
    """Two keys (sites s1/s2, agents a1/a2, ...) of every exported metric, as each collector exports them."""
    out = []
    for name, (kind, labels) in exported_metrics().items():
        for key in (0, 1):
            pairs = ", ".join(f'{label}="{label_value(label, key)}"' for label in sorted(labels))
            if kind == "counter":
                values = f"0+{1 + 2 * key}x{POINTS}"
            elif name.endswith("_info"):
                values = f"1x{POINTS}"
            else:
                values = f"{key}x{POINTS}"
            out += [{"series": f'{name}{{job="govwatch-collector", instance="{inst}", {pairs}}}', "values": values}
                    for inst in instances]
    return out


def label_value(label: str, key: int) -> str:
    return VALUES[label][key] if label in VALUES else f"{label}{key + 1}"


def evaluate(exprs: list[str], instances: tuple[str, ...], folder: Path) -> list[str]:
    """What each expression returns at EVAL_AT, as promtool prints it (sorted samples, or the error)."""
    tests = [{"expr": e, "eval_time": EVAL_AT, "exp_samples": [{"labels": MARKER, "value": 0}]} for e in exprs]
    doc = {"rule_files": [], "evaluation_interval": "1m",
           "tests": [{"interval": "1m", "input_series": series(instances), "promql_expr_test": tests}]}
    path = folder / f"eval-{len(instances)}.yml"
    path.write_text(yaml.safe_dump(doc))
    result = run_tool("promtool", "test", "rules", str(path))
    blocks = re.split(r"\n\s+expr: ", result.stdout + result.stderr)[1:]
    assert len(blocks) == len(exprs), result.stdout + result.stderr
    return [outcome(block) for block in blocks]


def outcome(block: str) -> str:
    if ", err: " in block.split("\n", 1)[0]:
        return "error: " + block.split(", err: ", 1)[1].strip()
    got = re.search(r"got: (.*)", block)
    assert got, block
    return " ".join(sorted(f"{{{labels}}}={value}" for labels, value in RESULT.findall(got.group(1))))


def alert_exprs() -> list[tuple[str, str]]:
    out = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            out += [(f"alert {r['alert']}", r["expr"]) for r in group["rules"]
                    if "alert" in r and r["alert"] not in PER_COLLECTOR]
    return out


def dashboard_exprs() -> list[tuple[str, str]]:
    out = []
    for path in dashboards():
        board = json.loads(path.read_text(encoding="utf-8"))
        variables = {v["name"] for v in board.get("templating", {}).get("list", [])}
        # template variables are label_values(), which lists each value once however many collectors
        out += [(f"{path.stem}: {title}", substitute(e, variables)) for title, e in expressions(board)
                if not title.startswith("variable ")]
    return out


@pytest.mark.parametrize("source", ["rules", "dashboards"])
def test_two_collectors_give_the_same_results_as_one(source, tmp_path):
    named = alert_exprs() if source == "rules" else dashboard_exprs()
    exprs = [e for _, e in named]
    one, two = evaluate(exprs, COLLECTORS[:1], tmp_path), evaluate(exprs, COLLECTORS, tmp_path)
    errors = [f"{name}: {res}" for results in (one, two) for (name, _), res in zip(named, results, strict=True)
              if res.startswith("error")]
    assert not errors, errors
    differ = [f"{name}\n  one collector:  {a}\n  two collectors: {b}"
              for (name, _), a, b in zip(named, one, two, strict=True) if a != b]
    assert not differ, "\n".join(differ)
    assert not [name for (name, _), a in zip(named, one, strict=True) if "instance=" in a], \
        "a result still names the collector it came from"
    empty = [name for (name, _), a in zip(named, one, strict=True) if not a]
    assert len(empty) < len(named) / 2, f"the synthetic data leaves most queries empty: {empty}"


def test_the_check_catches_a_query_that_counts_each_collector(tmp_path):
    exprs = ["sum(govwatch_defacement_detected)", "govwatch_site_up * on(site) group_left() govwatch_site_info",
             "sum(max without(instance) (govwatch_defacement_detected))"]
    one, two = evaluate(exprs, COLLECTORS[:1], tmp_path), evaluate(exprs, COLLECTORS, tmp_path)
    assert one[0] != two[0]                     # doubled
    assert two[1].startswith("error: ") and "many-to-many" in two[1]
    assert one[2] == two[2]


def test_every_metric_a_query_uses_has_synthetic_series():
    used = {m for _, e in alert_exprs() + dashboard_exprs() for m in METRIC_NAME.findall(e)}
    assert used <= set(exported_metrics())
