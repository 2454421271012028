"""The fast paths read exactly what the plain paths read: the block cache, the rule prefilter, the memos.

Each test compares the fast result with the result of the same code with the fast path off, on real
corpus pages, synthesised attacks and evasions, and hostile generated markup.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import random
import re

import pytest
from deface_testlib import corpus_root, read
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govwatch.agents.defacement import blocks, prefilter, signatures
from govwatch.agents.defacement.detector import default_rules
from govwatch.agents.defacement.html import parse
from govwatch.agents.defacement.synth import ATTACKS, EVASIONS, inject, inject_evasion, render


def _reading(html: str, cache: blocks.Cache | None) -> dict:
    return dataclasses.asdict(parse(html, cache=cache))


def _pages() -> list[str]:
    legit = sorted(glob.glob(os.path.join(corpus_root(), "legit", "*.html")))[:6]
    out = []
    for path in legit:
        html = read(path)
        rng = random.Random(os.path.basename(path))
        out += [html, render(html, rng), render(html, rng)]
        out += [inject(render(html, rng), kind, rng) for kind in ATTACKS]
        out += [inject_evasion(render(html, rng), kind) for kind in EVASIONS]
    return out


def test_block_cache_reads_every_page_as_a_fresh_reading_does() -> None:
    cache = blocks.Cache()
    pages = _pages()
    for html in pages + pages:   # the second pass reads most blocks from the cache
        assert _reading(html, cache) == _reading(html, None)
    assert cache.hits > cache.misses > 0


def test_a_stylesheet_rule_on_a_neighbour_is_not_taken_from_the_cache() -> None:
    """`.ad + div` hides the same block markup on one page and not on the other."""
    cache = blocks.Cache()
    style = "<style>.ad + div { display: none }</style>"
    block = '<div><a href="https://spam.example/">cheap pills</a> and news</div>'
    shown = parse(f"<html><head>{style}</head><body><p>a</p>{block}<p>z</p></body></html>", cache=cache)
    hidden = parse(f'<html><head>{style}</head><body><p class="ad">a</p>{block}<p>z</p></body></html>',
                   cache=cache)
    assert "cheap pills and news" in shown.text and not shown.hidden_text
    assert "cheap pills" in hidden.hidden_text and "cheap pills and news" not in hidden.text
    assert [link.hidden for link in hidden.links] == [True]


def test_text_that_looks_like_a_marker_is_read_as_text() -> None:
    cache = blocks.Cache()
    html = "<body><div>one</div><p>\x1e0\x1e</p>\x1f\x1e1\x1e<div>two</div></body>"
    for _ in range(2):
        assert _reading(html, cache) == _reading(html, None)


def test_the_cache_stays_within_its_bounds() -> None:
    cache = blocks.Cache(max_entries=5, max_chars=10_000)
    parse("<body>" + "".join(f"<div>block {i}</div>" for i in range(50)) + "</body>", cache=cache)
    assert len(cache) == 5
    parse("<body>" + "".join(f"<div>{i} {'x' * 3000}</div>" for i in range(10)) + "</body>", cache=cache)
    assert len(cache) <= 3
    assert parse(f"<body><div>{'y' * (blocks.MAX_BLOCK + 10)}</div></body>", cache=cache).text


_PIECES = ["<div>", "</div>", "<p>", "<span>", "</span>", "<b>", "hidden", " style='display:none'", "<a href=",
           "'https://x.example/'>", "</a>", "<script>", "</script>", "<style>", ".h{display:none}", "</style>",
           "<div class=h>", "<input value='v'>", "<img alt='alt'>", "<!-- hacked by -->", "<title>t</title>",
           "<h1>", "</h1>", "<noscript>", "</noscript>", "<template>", "<svg><text>s</text></svg>", "<table>",
           "<td>", "<dialog>", "</body>", "<body>", "text", "Нacked", " ", "\x1f", "\x1e", "<", ">", '"', "'"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=120), st.lists(st.sampled_from(_PIECES), max_size=40))
def test_hostile_markup_reads_the_same_with_the_cache(body: list[str], variant: list[str]) -> None:
    cache = blocks.Cache()
    first, second = "<body>" + "".join(body), "<body>" + "".join(variant + body)
    for html in (first, second, first):
        assert _reading(html, cache) == _reading(html, None)


def _plain_scan(rules: list, rec: dict[str, str]) -> list[str]:
    return sorted(rule.id for rule in rules if rule.matches(rec))


def _records() -> list[dict[str, str]]:
    records = []
    for html in _pages():
        page = parse(html, cache=None)
        records.append(signatures.record(page))
    return records


def test_prefilter_never_changes_which_rules_match() -> None:
    rules = default_rules()
    for rec in _records():
        assert sorted(hit.rule_id for hit in signatures.scan(rules, rec)) == _plain_scan(rules, rec)


def _literal_soup() -> list[str]:
    words = ["hacked by", "zone-h", "coinhive", "slot gacor", "judi", "viagra", "diretas oleh", "notify", "x"]
    for rule in default_rules():
        for _, _, literals in prefilter.for_rule(rule) or ():
            words += literals[:6]
    return words


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(signatures.FIELDS)),
                       st.lists(st.sampled_from(_literal_soup()) | st.text(max_size=12), max_size=8).map(" ".join)))
def test_prefilter_on_generated_records(fields: dict[str, str]) -> None:
    rules = default_rules()
    rec = {name: "" for name in signatures.FIELDS} | fields
    assert sorted(hit.rule_id for hit in signatures.scan(rules, rec)) == _plain_scan(rules, rec)


@pytest.mark.parametrize(("pattern", "literals"), [
    (r"\bhacked\s+by\b", ("hacked",)), (r"^owned|zone-h\.org", ("owned", "zone-h.org")),
    (r"(?i)hacked", None), (r"a*b", None), (r"(?:x|y)z", None), (r"hack|[0-9]+", None), (r"ab|", None)])
def test_regex_literals(pattern: str, literals: tuple[str, ...] | None) -> None:
    assert prefilter.regex_literals(pattern) == literals


def test_rules_self_tests_pass_with_the_prefilter() -> None:
    rules = default_rules()
    for rule in rules:
        for case in rule.tests:
            rec = {name: "" for name in signatures.FIELDS} | dict(case.get("event") or {})
            found = {hit.rule_id for hit in signatures.scan([rule], rec)}
            assert (rule.id in found) == (case.get("expect") == "match"), f"{rule.file}: {rule.id}"


_CALLS_AS_WRITTEN = re.compile(
    r"\beval\s*\(|\bunescape\s*\(|\batob\s*\(|fromcharcode|\bfunction\s*\(\s*p\s*,\s*a\s*,\s*c"
    r"|\bnew\s+function\s*\(|document\.write\s*\(\s*(?:unescape|atob|decodeuri)"
    r"|\[\s*['\"](?:constructor|eval|atob|unescape)['\"]\s*\]")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["eval", "unescape", "atob", "fromcharcode", "function", "new", "document.write",
                                 "(", " ", "x", "_", "p", ",", "a", "c", "[", "'", '"', "]", "constructor",
                                 "decodeuri", "é", "1", "\n"]), max_size=20).map("".join))
def test_obfuscation_call_pattern_finds_what_the_plain_pattern_finds(code: str) -> None:
    from govwatch.agents.defacement.sensors import _CALLS

    assert _CALLS.findall(code) == _CALLS_AS_WRITTEN.findall(code)
