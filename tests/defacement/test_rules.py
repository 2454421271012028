"""Defacement rules: house-style schema, their own tests, and zero hits on legitimate pages."""

from __future__ import annotations

import glob
import os

import pytest
from deface_testlib import RULES_DIR, corpus_root, read

from govwatch.agents.defacement import signatures
from govwatch.agents.defacement.html import parse
from govwatch.errors import ConfigError


def test_every_rule_passes_its_own_tests() -> None:
    rules = signatures.load(RULES_DIR)
    assert len(rules) >= 8
    assert signatures.self_test(rules) == []


def test_every_rule_has_match_and_no_match_cases_and_unique_ids() -> None:
    rules = signatures.load(RULES_DIR)
    assert len({r.id for r in rules}) == len(rules)
    for rule in rules:
        expects = {case.get("expect") for case in rule.tests}
        assert expects == {"match", "no_match"}, rule.title


def test_no_rule_fires_on_legitimate_pages() -> None:
    rules = signatures.load(RULES_DIR)
    for path in sorted(glob.glob(os.path.join(corpus_root(), "legit", "*.html"))):
        hits = signatures.scan(rules, signatures.record(parse(read(path))))
        assert hits == [], f"{os.path.basename(path)}: {[h.excerpt for h in hits]}"


def test_leetspeak_and_spaced_letters_are_folded() -> None:
    assert "hacked by" in signatures.fold("h4ck3d by")
    assert "hacked" in signatures.fold("h a c k e d")


@pytest.mark.parametrize("body, reason", [
    ("id: 1\ntitle: x\nseverity: high\nmatch: {a: {text|re: x}, condition: a}\ntests: [{expect: match}]",
     "id: must be a stable UUID"),
    ("id: 6f0c2d7e-1b3a-4c55-9d0e-2a7f1c9b8e41\ntitle: x\nseverity: high\nweight: 3\n"
     "match: {a: {text|re: x}, condition: a}\ntests: [{expect: match}]", "weight: must be a number in (0, 1]"),
    ("id: 6f0c2d7e-1b3a-4c55-9d0e-2a7f1c9b8e41\ntitle: x\nseverity: high\n"
     "match: {a: {body|re: x}, condition: a}\ntests: [{expect: match}]", "unknown field 'body'"),
    ("id: 6f0c2d7e-1b3a-4c55-9d0e-2a7f1c9b8e41\ntitle: x\nseverity: high\n"
     "match: {a: {text|re: '(unclosed'}, condition: a}\ntests: [{expect: match}]", "missing ), unterminated"),
])
def test_malformed_rule_is_refused_with_file_and_line(tmp_path, body: str, reason: str) -> None:
    (tmp_path / "bad.yml").write_text(body)
    with pytest.raises(ConfigError) as caught:
        signatures.load(str(tmp_path))
    assert "bad.yml:" in str(caught.value) and reason in str(caught.value)
