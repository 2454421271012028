"""Defacement and spam signatures: house-style rules from `rules/defacement/` run over a page's text fields.

A rule matches a *record* built from the page (fields below), so rules stay readable without knowing the
detector: `folded|re: '\\bhacked\\s+by\\b'`. Each rule may carry a `weight` (0..1, how much one hit alone
says "defaced"); without it the severity decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from govwatch.agents.defacement import prefilter
from govwatch.agents.defacement.confusables import skeleton
from govwatch.agents.defacement.html import Page
from govwatch.rules import Rule, load_rules, rules_dir

FIELDS = {
    "title": "page title",
    "text": "visible text, one chunk per line",
    "hidden_text": "text inside elements hidden from visitors (display:none, off-screen, zero size)",
    "folded": "title + visible + hidden text with look-alike letters folded to Latin (UTS #39 skeletons: Cyrillic "
              "Н -> h), leetspeak undone (h4ck3d -> hacked) and spaced letters joined",
    "link_text": "text of links to other sites",
    "scripts": "inline script code",
    "urls": "every URL the page references (script, iframe, img, link, a, form), one per line",
}
SEVERITY_WEIGHT = {"info": 0.1, "low": 0.25, "medium": 0.45, "high": 0.7, "critical": 0.9}
_LEET = bytes.maketrans(b"4@31!05$7|", b"aaeiiosstl")
_SPACED = re.compile(r"(?:\w[ ._*-]){2,}\w\b")
_MAX_FIELD = 300_000


@dataclass(frozen=True)
class Hit:
    """One signature that matched: which rule, how strongly, and the text that matched."""

    rule_id: str
    title: str
    severity: str
    weight: float
    excerpt: str
    tags: tuple[str, ...] = ()


def _check_body(raw: dict[str, Any]) -> None:
    weight = raw.get("weight", SEVERITY_WEIGHT.get(raw.get("severity"), 0.5))
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 1:
        raise ValueError("weight: must be a number in (0, 1]")
    match = raw.get("match")
    if not isinstance(match, dict):
        raise ValueError("match: a defacement rule needs a match block")
    for name, selection in match.items():
        if name == "condition":
            continue
        for key in selection:
            field_name = str(key).split("|")[0]
            if field_name not in FIELDS:
                raise ValueError(f"match.{name}: unknown field {field_name!r} (fields: {', '.join(FIELDS)})")


def load(directory: str | None = None) -> list[Rule]:
    """Load the defacement rules (refusing a malformed file with its file, line and reason)."""
    return load_rules(rules_dir("defacement", directory), "defacement", extra_keys={"weight"},
                      check_body=_check_body)


def fold(text: str) -> str:
    """Undo the disguises defacers use: look-alike letters from other scripts, leetspeak digits and s p a c e d
    letters."""
    folded = skeleton(text).encode("utf-8", "surrogatepass").translate(_LEET).decode("utf-8", "replace")
    return _SPACED.sub(lambda m: re.sub(r"[ ._*-]", "", m.group(0)), folded)


def record(page: Page, is_external: Any = None, text_lines: list[str] | None = None,
           scripts: list[str] | None = None) -> dict[str, str]:
    """The fields rules match on; `is_external(url)` tells which links lead to other sites.

    `text_lines` / `scripts` narrow the text and script fields to what is new against a profile: what
    the known-good page already had cannot add a hit the profile does not already excuse, and reading
    only the new part keeps a large unchanged page cheap.
    """
    text = "\n".join(page.text if text_lines is None else text_lines)
    hidden = "\n".join(page.hidden_text)
    external = [link.text for link in page.links
                if link.tag == "a" and link.text and (is_external is None or is_external(link.url))]
    return {
        "title": page.title,
        "text": text[:_MAX_FIELD],
        "hidden_text": hidden[:_MAX_FIELD],
        "folded": fold(page.title + "\n" + text[:_MAX_FIELD] + "\n" + hidden[:_MAX_FIELD]),
        "link_text": "\n".join(external)[:_MAX_FIELD],
        "scripts": "\n".join(page.scripts if scripts is None else scripts)[:_MAX_FIELD].lower(),
        "urls": "\n".join(link.url for link in page.links).lower()[:_MAX_FIELD],
    }


def unfolded(rec: dict[str, str]) -> str:
    """The `folded` field before folding: the same lines, where a crew name keeps its digits."""
    return rec.get("title", "") + "\n" + rec.get("text", "") + "\n" + rec.get("hidden_text", "")


def _excerpt(rule: Rule, rec: dict[str, str]) -> str:
    """The text that made a rule match, for the analyst (first regex that finds something)."""
    for name, selection in rule.raw["match"].items():
        if name == "condition":
            continue
        for key, value in selection.items():
            field_name, *ops = str(key).split("|")
            for pattern in value if isinstance(value, list) else [value]:
                if "re" in ops:
                    found = re.search(str(pattern), rec.get(field_name, ""))
                    if found:
                        return found.group(0)[:80].replace("\n", " ")
                elif str(pattern).lower() in rec.get(field_name, ""):
                    return str(pattern)[:80]
    return rule.title


class _Lowered(str):
    """A record field that has its lower case at hand: the rule engine lowers a field's value for every
    `contains` needle it tests (0.15 ms for one rule's needle list over a page's URLs), this lowers it once."""

    def __new__(cls, value: str) -> _Lowered:
        field = super().__new__(cls, value)
        field.low = value.lower()
        return field

    def lower(self) -> str:  # type: ignore[override]
        return self.low


def scan(rules: list[Rule], rec: dict[str, str]) -> list[Hit]:
    """Every rule that matches the record, strongest first."""
    rec = {name: _Lowered(value) if isinstance(value, str) else value for name, value in rec.items()}
    hits = []
    for rule in rules:
        found = prefilter.for_rule(rule)
        if found is not None and not prefilter.may_match(found, rec):
            continue
        if rule.matches(rec):
            weight = float(rule.raw.get("weight", SEVERITY_WEIGHT.get(rule.severity, 0.5)))
            tags = tuple(str(tag) for tag in rule.raw.get("tags") or ())
            hits.append(Hit(rule.id, rule.title, rule.severity, weight, _excerpt(rule, rec), tags))
    return sorted(hits, key=lambda h: -h.weight)


def self_test(rules: list[Rule]) -> list[str]:
    """Run every rule's own tests; return one line per failure (empty when all pass)."""
    failures = []
    for rule in rules:
        for index, case in enumerate(rule.tests):
            event = {name: "" for name in FIELDS} | dict(case.get("event") or {})
            got = rule.matches(event)
            want = case.get("expect") == "match"
            if got != want:
                failures.append(f"{rule.file}: rule {rule.id} test {index}: expected {case.get('expect')}")
    return failures
