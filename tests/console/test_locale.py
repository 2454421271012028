"""The message catalogues: one .po per language, compiled .mo in step with it, every key in both
languages, Khmer text really Khmer, every rule titled in both languages."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from govwatch.collector.locale import words

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "collector" / "locale"
# msgids whose Khmer text may be Latin only (product names, format strings made of numbers)
LATIN_OK = {"favicon_title"}


def po_entries(lang: str) -> dict[str, str]:
    """msgid -> msgstr of a .po file, read by msgfmt itself (compiled to a temporary .mo)."""
    text = (LOCALE / lang / "LC_MESSAGES" / "govwatch.po").read_text(encoding="utf-8")
    return dict(re.findall(r'^msgid "(.+)"\nmsgstr "(.*)"$', text, re.M))


def test_both_catalogues_have_the_same_keys():
    en, km = po_entries("en"), po_entries("km")
    assert set(en) == set(km), set(en) ^ set(km)
    assert len(en) > 250


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="needs msgfmt (Debian gettext)")
@pytest.mark.parametrize("lang", ["en", "km"])
def test_compiled_catalogue_matches_its_source(lang, tmp_path):
    po = LOCALE / lang / "LC_MESSAGES" / "govwatch.po"
    subprocess.run(["msgfmt", "--check", "-o", str(tmp_path / "x.mo"), str(po)], check=True, capture_output=True)
    fresh = gettext.GNUTranslations((tmp_path / "x.mo").open("rb"))._catalog
    shipped = gettext.GNUTranslations((po.parent / "govwatch.mo").open("rb"))._catalog
    assert fresh == shipped, "run `make locale` and commit the .mo"


def test_khmer_texts_are_khmer():
    for key, text in po_entries("km").items():
        if key in LATIN_OK or key.startswith("traffic_"):
            continue
        words_only = re.sub(r"\{[^}]*\}", "", text)
        assert any("\u1780" <= c <= "\u17ff" for c in text) or not re.search(r"[A-Za-z]{4,}", words_only), key


def test_every_rule_has_a_title_in_both_languages():
    en, km = words("en"), words("km")
    for path in sorted((ROOT / "rules").glob("[dflt]*/*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in doc.get("rules", [doc]):
            assert en.rule_title(rule["id"]) == rule["title"], path.name
            assert any("\u1780" <= c <= "\u17ff" for c in km.rule_title(rule["id"])), path.name


def test_numbers_dates_and_durations_follow_the_language():
    en, km = words("en"), words("km")
    ts = 1_796_136_900  # 2026-12-01 21:55 in Phnom Penh
    assert en.date_time(ts, "Asia/Phnom_Penh") == "2026-12-01 21:55"
    assert km.date_time(ts, "Asia/Phnom_Penh") == "១ ធ្នូ ២០២៦ ម៉ោង ២១:៥៥"
    assert km.duration(3725) == "១ ម៉ោង ០២ នាទី" and en.duration(3725) == "1 h 02 min"
    assert km.fmt("resolved_merged", n=12) == "បានបញ្ចូលទៅក្នុងឧប្បត្តិហេតុ #១២"


def test_no_khmer_message_carries_english_beyond_technical_terms():
    from govwatch.collector.locale.check import english_words

    for key, text in po_entries("km").items():
        assert english_words("<p>" + re.sub(r"\{[^}]*\}", "", text) + "</p>") == [], key


@pytest.mark.parametrize("kind", ["defacement", "site_down", "site_unreachable"])
def test_site_incident_titles_are_worded_in_both_languages(kind):
    from govwatch.collector.console.titles import incident_title

    row = {"kind": kind, "site": "moc-home", "key": f"{kind}:moc-home", "title": "stored english title"}
    english, khmer = incident_title(dict(row), words("en")), incident_title(dict(row), words("km"))
    assert "moc-home" in english and "moc-home" in khmer and "stored english" not in english + khmer
    assert sum("\u1780" <= c <= "\u17ff" for c in khmer) > 10
    assert words("km")["kind_" + kind] != words("en")["kind_" + kind]
