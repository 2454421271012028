"""FIM rules: every shipped rule passes its own tests, rules are well formed, benign changes stay quiet."""

from __future__ import annotations

import os
from typing import Any

import pytest

from govwatch.agents.fim.evidence import webshell_markers
from govwatch.agents.fim.rules import FimRules, build_record, record_for_test
from govwatch.errors import ConfigError
from govwatch.rules import load_rules

RULES = os.path.join(os.path.dirname(__file__), "..", "..", "rules", "fim")
LOADED = FimRules.load(RULES)


@pytest.mark.parametrize("rule", LOADED.rules, ids=lambda r: os.path.basename(r.file))
def test_rule_passes_its_own_tests(rule: Any) -> None:
    expects = {case["expect"] for case in rule.tests}
    assert expects == {"match", "no_match"}, "every rule needs match and no_match cases"
    for case in rule.tests:
        record = record_for_test(case["event"])
        assert rule.matches(record) == (case["expect"] == "match"), case


def test_rule_ids_are_unique_and_every_rule_has_output() -> None:
    rules = load_rules(RULES, "fim", extra_keys={"action", "always"})
    assert len({r.id for r in rules}) == len(rules) >= 8
    assert all(r.raw.get("output") for r in rules)


def test_malformed_rule_is_refused_with_file_and_line(tmp_path: Any) -> None:
    (tmp_path / "bad.yml").write_text("id: 6f0c2d7e-1b3a-4c55-9d0e-2a7f1c9b8e41\ntitle: x\nseverity: high\n"
                                      "action: shout\nmatch: {s: {change: created}, condition: s}\n"
                                      "tests: [{expect: match, event: {change: created}}]\n")
    with pytest.raises(ConfigError, match=r"bad.yml:1: .*action must be alert or ignore"):
        FimRules.load(str(tmp_path))


BENIGN = [  # what a healthy ministry site does all day
    ("created", "/var/www/html/wp-content/uploads/2026/11/photo.jpg"),
    ("created", "/var/www/html/wp-content/uploads/2026/11/report.pdf"),
    ("modified", "/var/www/html/wp-content/themes/gov/style.css"),
    ("modified", "/var/www/html/sitemap.xml"),
    ("created", "/var/www/html/wp-content/cache/page_enhanced/index.html"),
    ("created", "/var/www/html/wp-content/cache/object/x.php"),
    ("modified", "/var/www/html/logs/access.log"),
    ("created", "/var/lib/php/sessions/sess_8f9a7c"),
    ("deleted", "/var/www/html/wp-content/uploads/2026/10/old.png"),
    ("attributes", "/var/www/html/index.php"),
    ("modified", "/var/www/html/robots.txt"),
]


def test_benign_changes_raise_no_critical_or_high() -> None:
    for change, path in BENIGN:
        record = build_record(path, change, "/var/www/html", True)
        verdict = LOADED.judge(record)
        assert verdict.severity not in ("critical", "high"), (path, verdict)


def test_ignored_folder_is_silenced_but_markers_are_not() -> None:
    quiet = LOADED.judge(build_record("/var/www/html/cache/a.html", "created", "/var/www/html", True))
    loud = LOADED.judge(build_record("/var/www/html/cache/a.php", "created", "/var/www/html", True,
                                     markers=["eval_decode"]))
    assert quiet.ignored and not loud.ignored and loud.severity == "critical"


def test_local_exception_silences_a_known_change() -> None:
    rules = FimRules.load(RULES, [{"path|startswith": "/var/www/html/plugins/", "reason": "plugin updates"}])
    verdict = rules.judge(build_record("/var/www/html/plugins/a.php", "created", "/var/www/html", True))
    assert verdict.ignored


@pytest.mark.parametrize("content, marker", [
    (b"<?php eval(base64_decode('ZWNobyAx')); ?>", "eval_decode"),
    (b'<?php system($_GET["c"]); ?>', "exec_request"),
    (b"<?php @assert($_POST['x']); ?>", "eval_request"),
    (b"<?php preg_replace('/.*/e', $_REQUEST['c'], ''); ?>", "preg_replace_e"),
    (b"<?php $f = $_GET['f']; $f($_POST['a']); ?>", "variable_function_request"),
    (b"<% Runtime.getRuntime().exec(request.getParameter(\"c\")); %>", "jsp_exec_param"),
])
def test_webshell_markers_found(content: bytes, marker: str) -> None:
    assert marker in webshell_markers(content)


def test_ordinary_php_has_no_markers() -> None:
    code = (b"<?php $title = htmlspecialchars($_GET['q'] ?? ''); echo preg_replace('/\\s+/', ' ', $title);"
            b" $data = base64_encode(json_encode($rows)); system_log('ok'); ?>")
    assert webshell_markers(code) == []
