"""The detector on real pages: re-renders pass, every attack kind is caught, verdicts explain themselves.

Cases are synthesised from the corpus (govwatch.agents.defacement.synth): the goals of the issue are
asserted per class (>= 99% full-page, >= 95% per injection kind, <= 1% false alarms on re-renders).
"""

from __future__ import annotations

import glob
import json
import os
import random

import pytest
from deface_testlib import corpus_root, read

from govwatch.agents.defacement.detector import judge
from govwatch.agents.defacement.profile import Profile, learn
from govwatch.agents.defacement.synth import ATTACKS, inject, render

ROOT = corpus_root()
LEGIT = {os.path.basename(p): read(p) for p in sorted(glob.glob(os.path.join(ROOT, "legit", "*.html")))}
DEFACED = {os.path.basename(p): read(p) for p in sorted(glob.glob(os.path.join(ROOT, "defaced", "*.html")))}
SAMPLE = dict(list(LEGIT.items())[::max(1, len(LEGIT) // 8)])   # a spread of pages keeps the suite fast


def _profile(name: str, html: str, seed: int = 0) -> tuple[Profile, random.Random]:
    rng = random.Random(f"{name}:{seed}")
    return learn([render(html, rng) for _ in range(3)]), rng


def test_dynamic_rerenders_do_not_alarm() -> None:
    alarms, total = [], 0
    for name, html in SAMPLE.items():
        profile, rng = _profile(name, html)
        for _ in range(8):
            verdict = judge(profile, render(html, rng))
            total += 1
            if verdict.defaced:
                alarms.append((name, verdict.reasons))
    assert len(alarms) / total <= 0.01, alarms


@pytest.mark.parametrize("kind", ATTACKS)
def test_each_injection_kind_is_detected(kind: str) -> None:
    missed, total = [], 0
    for name, html in SAMPLE.items():
        for seed in range(3):
            profile, rng = _profile(name, html, seed)
            verdict = judge(profile, inject(render(html, rng), kind, rng))
            total += 1
            if not verdict.defaced:
                missed.append((name, seed, verdict.reasons))
    assert len(missed) / total <= 0.05, missed


def test_full_page_defacements_are_detected_against_every_profile() -> None:
    missed, total = [], 0
    for name, html in SAMPLE.items():
        profile, _ = _profile(name, html)
        for dname, dhtml in DEFACED.items():
            total += 1
            if not judge(profile, dhtml).defaced:
                missed.append((dname, name))
    assert len(missed) / total <= 0.01, missed


def test_next_real_version_passes_or_is_low() -> None:
    old, new = LEGIT["pariwisata.padang.go.id_profil.v1.html"], LEGIT["pariwisata.padang.go.id_profil.v2.html"]
    profile, rng = _profile("profil", old)
    verdict = judge(profile, render(new, rng))
    assert not verdict.defaced and verdict.severity in ("info", "low")


def test_verdict_explains_itself() -> None:
    html = LEGIT["pariwisata.padang.go.id_profil.v1.html"]
    profile, rng = _profile("explain", html)
    page = render(html, rng).replace("</body>", '<div style="display:none"><a href="https://slot-gacor.example/">'
                                     'slot gacor</a><a href="https://togel.example/">togel</a></div>'
                                     '<script src="https://evil.example/x.js"></script></body>')
    verdict = judge(profile, page)
    assert verdict.defaced and verdict.severity in ("high", "critical")
    text = " | ".join(verdict.reasons)
    assert "hidden block with 2 link(s)" in text and "slot gacor" in text
    assert "new external script domain evil.example" in text
    assert {"evil.example", "slot-gacor.example", "togel.example"} <= set(verdict.new_domains)
    assert "[hidden] slot gacor" in verdict.text_diff


def test_profile_free_check_catches_a_signed_defacement_only() -> None:
    assert judge(None, "<html><title>x</title><h1>Hacked by Cyb3r Gh0st Team</h1></html>").defaced
    assert not judge(None, LEGIT["pariwisata.padang.go.id_profil.v1.html"]).defaced


def test_profile_round_trips_through_json() -> None:
    html = LEGIT["pariwisata.padang.go.id_profil.v1.html"]
    profile, rng = _profile("json", html)
    again = Profile.from_dict(json.loads(json.dumps(profile.to_dict())))
    candidate = inject(render(html, rng), "hidden_iframe", rng)
    assert judge(again, candidate).to_dict() == judge(profile, candidate).to_dict()
    with pytest.raises(ValueError, match="version 2"):
        Profile.from_dict({"version": 99})


def test_server_side_redirect_to_another_domain() -> None:
    html = LEGIT["pariwisata.padang.go.id_profil.v1.html"]
    profile = learn([html], url="https://pariwisata.padang.go.id/profil.html")
    verdict = judge(profile, html, url="https://casino.example/landing")
    assert verdict.defaced and "page redirected to casino.example" in verdict.reasons


def test_first_sight_defacement_without_claim_words_is_caught_by_its_build() -> None:
    page = ("<html><head><title>./Z3r0</title></head><body bgcolor=black><center><h1>./Z3r0</h1>"
            "<marquee>from somewhere with love</marquee><audio src='https://x.example/a.mp3' autoplay></audio>"
            "<p>Greetz: N0Name | xRoot</p></center></body></html>")
    verdict = judge(None, page, rules=[])
    assert verdict.defaced and any("stand-alone page" in r for r in verdict.reasons)
    maintenance = ("<html><head><title>Maintenance</title><style>body{background:#000;text-align:center}</style>"
                   "</head><body><img src=logo.png><h1>Ministry of Commerce</h1><p>Back soon. Contact: "
                   "info@moc.gov.kh</p></body></html>")
    assert not judge(None, maintenance).defaced


@pytest.mark.parametrize("name", sorted(LEGIT))
def test_legit_pages_pass_the_profile_free_check(name: str) -> None:
    assert not judge(None, LEGIT[name]).defaced


def test_self_writing_obfuscated_page_and_comment_inside_script() -> None:
    payload = "".join(f"%{ord(ch):02x}" for ch in "<h1>owned</h1>" * 20)
    page = f"<html><body><script><!--\ndocument.write(unescape('{payload}'));\n</script></body></html>"
    verdict = judge(None, page, rules=[])
    assert verdict.defaced and "writes itself" in verdict.reasons[0]


def test_added_tag_manager_is_not_a_defacement() -> None:
    from govwatch.agents.defacement.synth import add_analytics

    html = LEGIT["pariwisata.padang.go.id_profil.v1.html"]
    profile, rng = _profile("gtm", html)
    verdict = judge(profile, add_analytics(render(html, rng), rng))
    assert not verdict.defaced and verdict.severity in ("info", "low"), verdict.reasons


def test_spam_hidden_by_compound_css_is_reported_as_a_hidden_block() -> None:
    unseen, total = [], 0
    for name, html in SAMPLE.items():
        for seed in range(3):
            profile, rng = _profile(name, html, seed)
            verdict = judge(profile, inject(render(html, rng), "hidden_spam_css", rng))
            total += 1
            if not any("hidden block with" in reason for reason in verdict.reasons):
                unseen.append((name, seed, verdict.reasons))
    assert len(unseen) / total <= 0.05, unseen


def test_evidence_keeps_the_page_s_own_case_while_judging_folds_it() -> None:
    """Analysts read 'HACKED BY Team X' as the page shows it; signatures still match it folded."""
    good = "<html><head><title>Ministry of Commerce</title></head><body><h1>Welcome</h1>" \
           "<p>News of the Ministry of Commerce, Phnom Penh.</p><p>Contact us at the Ministry.</p></body></html>"
    profile = learn([good], url="https://moc.example/")
    bad = "<html><head><title>HaCkEd By Team X</title></head><body><h1>HACKED BY Team X</h1>" \
          "<p>Your security is ZERO.</p></body></html>"
    verdict = judge(profile, bad, "https://moc.example/")
    assert verdict.defaced
    assert verdict.title == "HaCkEd By Team X"
    assert "+HACKED BY Team X" in verdict.text_diff
    assert "-News of the Ministry of Commerce, Phnom Penh." in verdict.text_diff
    assert "News of the Ministry of Commerce, Phnom Penh." in json.loads(json.dumps(profile.to_dict()))["reference"]
