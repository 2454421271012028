"""The shipped traffic rules: valid, uniquely identified, each with match and no_match tests that pass;
malformed rules refused at file:line."""

from __future__ import annotations

import os
import shutil

import pytest

from govwatch.agents.traffic import rules as traffic_rules
from govwatch.errors import ConfigError

RULES = os.path.join(os.path.dirname(__file__), "..", "..", "rules", "traffic")


def test_every_kind_has_one_rule_and_its_tests_pass() -> None:
    loaded = traffic_rules.load(RULES)
    assert sorted(loaded) == sorted(traffic_rules.KINDS)
    assert traffic_rules.self_test(loaded) == []
    for rule in loaded.values():
        expects = {t["expect"] for t in rule.rule.tests}
        assert expects == {"match", "no_match"}, rule.rule.file
    assert len({r.rule.id for r in loaded.values()}) == len(loaded)


@pytest.mark.parametrize("edit,message", [
    (("min_rate: 200", "min_rat: 200"), "unknown parameter for syn_flood"),
    (("detector: syn_flood", "detector: syn_storm"), "detector: must be one of"),
    (("min_rate: 200", "min_rate: fast"), "must be a non-negative number"),
    (("severity: high", "severity: huge"), "severity: must be one of"),
])
def test_malformed_rule_refused_with_file_and_line(tmp_path, edit, message) -> None:
    folder = tmp_path / "traffic"
    shutil.copytree(RULES, folder)
    path = folder / "traffic_syn_flood.yml"
    path.write_text(path.read_text().replace(*edit))
    with pytest.raises(ConfigError) as info:
        traffic_rules.load(str(folder))
    assert message in str(info.value) and "traffic_syn_flood.yml:" in str(info.value)


def test_failing_rule_test_is_reported(tmp_path) -> None:
    folder = tmp_path / "traffic"
    shutil.copytree(RULES, folder)
    path = folder / "traffic_udp_flood.yml"
    path.write_text(path.read_text().replace("min_pps: 1000", "min_pps: 100000"))
    failures = traffic_rules.self_test(traffic_rules.load(str(folder)))
    assert len(failures) == 1 and "traffic_udp_flood.yml" in failures[0]


def test_allow_list_silences_a_source(tmp_path) -> None:
    loaded = traffic_rules.load(RULES)
    loaded["port_scan"].allow = [__import__("ipaddress").ip_network("10.0.0.0/8")]
    assert loaded["port_scan"].allowed("10.1.2.3") and not loaded["port_scan"].allowed("192.0.2.1")
