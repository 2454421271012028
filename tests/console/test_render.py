"""The pieces the pages are built from: escaping, the side-by-side diff, traffic figures, translations."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from govwatch.collector.console import auth, traffic
from govwatch.collector.console.evidence import side_by_side
from govwatch.collector.console.i18n import words
from govwatch.collector.console.render import Safe, age, html, render


def test_every_interpolated_value_is_escaped_unless_marked_safe():
    assert html("<b>{0}</b>", '<img src=x onerror="alert(1)">') == \
        "<b>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</b>"
    assert html("<p>{0}</p>", Safe("<i>ok</i>")) == "<p><i>ok</i></p>"
    page = render("login.html", {**{f"t_{k}": v for k, v in words("en").items()}, "error": "<script>", "setup_note": "",
                                 "pre": '"><script>', "next": "/"})
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_template_with_a_missing_value_fails_loudly():
    with pytest.raises(KeyError):
        render("login.html", {})


def test_side_by_side_pairs_removed_with_added_lines():
    diff = "--- known-good\n+++ now\n@@ -1,3 +1,2 @@\n keep\n-old one\n-old two\n+new one\n tail\n... (diff truncated)"
    assert side_by_side(diff) == [
        ("@@ -1,3 +1,2 @@", "gap", "@@ -1,3 +1,2 @@", "gap"),
        ("keep", "ctx", "keep", "ctx"),
        ("old one", "del", "new one", "add"),
        ("old two", "del", None, "empty"),
        ("tail", "ctx", "tail", "ctx"),
        ("... (diff truncated)", "gap", "... (diff truncated)", "gap"),
    ]


def test_side_by_side_keeps_a_removed_line_that_looks_like_a_header():
    assert side_by_side("@@ -1 +1 @@\n--- dashes in the page\n+++ plus in the page") == [
        ("@@ -1 +1 @@", "gap", "@@ -1 +1 @@", "gap"),
        ("-- dashes in the page", "del", "++ plus in the page", "add"),
    ]


def test_traffic_figures_answer_who_where_how_fast():
    items = [{"ts": 1, "src": "many", "evidence": {"top_sources": [{"addr": "a", "packets": 10}],
                                                   "peak_bits_per_s": 2_500_000, "top_ports": [{"port": 53}]}},
             {"ts": 2, "src": "b", "evidence": {"top_reflectors": [{"addr": "c", "bytes": 99}, {"addr": "a",
                                                "packets": 40}], "peak_bits_per_s": 1_000, "port": 123}}]
    assert traffic.top_sources(items) == [("c", 99.0, "bytes"), ("a", 40.0, "packets"), ("b", 0.0, "")]
    assert traffic.ports(items) == ["53", "123"]
    assert traffic.rates(items) == {"peak_bits_per_s": 2_500_000}
    assert traffic.human_rate("peak_bits_per_s", 2_500_000) == "2.5 Mbit/s"
    assert traffic.human_rate("peak_bits_per_s", 2_500_000, words("km")) == "២.៥ Mbit/s"
    assert str(traffic.rate_label("peak_syn_per_s", words("en"))) == "SYN packets per second (peak)"


def test_ages_read_in_whole_units():
    assert age(1000, words("en"), now=1000 + 7200 + 59) == "2 h"
    assert age(1000, words("km"), now=1000 + 90) == "១ នាទី"
    assert age(None, words("en")) == "never"


def test_every_template_key_exists_in_the_catalogue():
    folder = resources.files("govwatch.collector.console").joinpath("templates")
    for template in folder.iterdir():
        for key in re.findall(r"\$\{t_(\w+)\}", template.read_text(encoding="utf-8")):
            assert words("km").has(key), f"{template.name}: t_{key}"


def test_passwords_are_salted_scrypt():
    first, second = auth.hash_password("correct horse"), auth.hash_password("correct horse")
    assert first != second and first.startswith("scrypt$")
    assert auth.check_password("correct horse", first) and not auth.check_password("wrong horse", first)
    assert not auth.check_password("anything", "garbage")


def test_detector_reasons_read_in_khmer_with_the_page_words_kept():
    from govwatch.collector.console.reasons import translate

    reason = "signature: 'hacked by x' (rule bd5f2000-76b2-4460-abb1-0b1e9b75952a: Defacement claim)"
    assert translate(reason, words("en")) == ("signature &#x27;<span translate=\"no\">hacked by x</span>&#x27; "
                                              "(Defacement claim &quot;hacked by&quot; / &quot;defaced by&quot; "
                                              "(English and leetspeak))")
    khmer = translate("3 new hidden links on the page", words("km"))
    assert khmer == "តំណលាក់ថ្មី ៣ នៅលើទំព័រ"
    assert "evil.example" in translate("page redirected to evil.example", words("km"))
    assert translate("something the catalogue does not know", words("km")) is None
    assert "<script>" not in translate("meta refresh to <script>", words("en"))


def test_figures_are_written_in_words_not_python_values():
    en, km = words("en"), words("km")
    assert traffic.words_for([True, None, 3, 0.25], en) == "yes, —, 3, 0.25"
    assert traffic.words_for({"flags": ["ACK", "RST"], "ok": False}, en) == "flags: ACK, RST; ok: no"
    assert traffic.words_for(1200, km) == "១,២០០"


def test_log_evidence_shows_the_lines_behind_a_web_shell_and_the_packet_view():
    """A web-shell incident carries the requests that used the file and the source's traffic incidents."""
    from zoneinfo import ZoneInfo

    from govwatch.collector.console.evidence import render_all
    from govwatch.collector.locale.check import english_words

    line = {"ts": 1764600000.0, "src": "203.0.113.9", "method": "POST", "target": "/uploads/x.php?c=<b>id</b>",
            "status": 200, "ua": "curl"}
    evidence = {"requests": [{"ts": 1764600000.0, "state": "start", "src": "203.0.113.9",
                              "evidence": {"sample": [line, "not a line"]},
                              "packet_view": [{"incident": 7, "kind": "port_scan", "title": "scan"}]}],
                "traffic": [{"src": "203.0.113.9", "incidents": [{"incident": 7}, {"incident": "x"}]}]}
    tz = ZoneInfo("Asia/Phnom_Penh")
    page = str(render_all(evidence, words("en"), tz, "web-01"))
    assert "POST /uploads/x.php?c=&lt;b&gt;id&lt;/b&gt;" in page and "<b>id</b>" not in page
    assert 'href="/incidents/7"' in page and "Same source in the packet view" in page
    khmer = str(render_all(evidence, words("km"), tz, "web-01"))
    assert english_words(khmer) == []   # the logged request is code, the rest comes from the catalogue
