"""The Prometheus alerting rules: valid, unit-tested, bilingual, and built only on exported metrics."""

from __future__ import annotations

import re

import pytest
import yaml

from .conftest import METRIC_NAME, RULES, exported_metrics, run_tool

KHMER = re.compile(r"[\u1780-\u17ff]")
REQUIRED = ["SiteDown", "SiteSlow", "DefacementDetected", "AgentSilent", "FIMCriticalChange", "TrafficAnomaly",
            "CertExpiringSoon", "CertInvalid", "CollectorRejectingEvents"]


def alerts() -> list[dict]:
    found = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            found += [rule for rule in group["rules"] if "alert" in rule]
    return found


def test_promtool_check_rules_passes():
    result = run_tool("promtool", "check", "rules", *map(str, sorted(RULES.glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass():
    tests = sorted((RULES / "tests").glob("*_test.yml"))
    assert tests
    result = run_tool("promtool", "test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_issue_alert_exists_and_is_unit_tested():
    names = {rule["alert"] for rule in alerts()}
    assert set(REQUIRED) <= names
    tested = "".join(p.read_text(encoding="utf-8") for p in (RULES / "tests").glob("*_test.yml"))
    untested = [name for name in names if f"alertname: {name}" not in tested]
    assert not untested, f"alerts without a promtool test: {untested}"


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_alert_has_english_and_khmer_annotations_and_routing_labels(rule):
    notes = rule["annotations"]
    for key in ("summary", "description"):
        assert notes[key] and not KHMER.search(notes[key])
        assert KHMER.search(notes[f"{key}_km"]), f"{key}_km is not Khmer"
        # the same template variables in both languages: a Khmer reader gets the same facts
        assert sorted(re.findall(r"\$labels\.\w+|\$value", notes[key])) == \
            sorted(re.findall(r"\$labels\.\w+|\$value", notes[f"{key}_km"]))
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert rule["labels"]["team"] in {"security", "operations"}


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_alert_uses_only_exported_metrics_and_labels(rule):
    metrics = exported_metrics()
    used = set(METRIC_NAME.findall(rule["expr"]))
    assert used <= set(metrics), f"not exported: {used - set(metrics)}"
    labels = set(re.findall(r"\$labels\.(\w+)", str(rule["annotations"])))
    available = set().union(*(metrics[m][1] for m in used)) | {"instance", "job"}
    assert labels <= available, f"annotations use labels no metric has: {labels - available}"
