"""Claims in news stories vs. a defacer's signature: the story on an intact page stays low."""

from __future__ import annotations

import glob
import os
import random

import pytest
from deface_testlib import corpus_root, read

from govwatch.agents.defacement import context
from govwatch.agents.defacement.detector import judge
from govwatch.agents.defacement.profile import learn
from govwatch.agents.defacement.synth import HACKING_NEWS, add_hacking_news, render

LEGIT = {os.path.basename(p): read(p) for p in sorted(glob.glob(os.path.join(corpus_root(), "legit", "*.html")))}
PAGE = LEGIT["pariwisata.padang.go.id_profil.v1.html"]


def _story(heading: str, body: str) -> str:
    return f'<div class="news"><h3><a href="/news/7.html">{heading}</a></h3><p>{body}</p></div>'


def _profiled(seed: str = "ctx") -> tuple:
    rng = random.Random(seed)
    return learn([render(PAGE, rng) for _ in range(3)]), rng


@pytest.mark.parametrize("heading, body", HACKING_NEWS, ids=[h[:24] for h, _ in HACKING_NEWS])
def test_news_story_about_an_attack_on_an_intact_page_stays_low(heading: str, body: str) -> None:
    profile, rng = _profiled()
    verdict = judge(profile, render(PAGE, rng).replace("</body>", _story(heading, body) + "</body>"))
    assert not verdict.defaced and verdict.severity in ("info", "low"), verdict.reasons
    assert any("news-like sentence" in reason for reason in verdict.reasons)


def test_news_about_hacking_class_passes_on_every_legit_page() -> None:
    alarms = []
    for name, html in list(LEGIT.items())[::3]:
        rng = random.Random(name)
        profile = learn([render(html, rng) for _ in range(3)])
        verdict = judge(profile, add_hacking_news(render(html, rng), rng))
        if verdict.defaced:
            alarms.append((name, verdict.reasons))
    assert alarms == []


@pytest.mark.parametrize("message", [
    "This website has been hacked by Spizie because nobody here ever updates anything, the ministry said nothing",
    "Hacked by Garuda Security Hacker, officials and the government should learn, we will come back next year",
    "Situs pemerintah ini diretas oleh Garuda_Sec, kata kami, keamanan website anda lemah sekali, perbaiki segera",
    "Officials said the ministry portal was hacked by Cyb3r Gh0st Team last year and police never found anyone",
    "The police said the portal was hacked by us and we are anonymous, expect us, greetz to all the crew members",
])
def test_defacer_message_in_a_long_line_is_still_a_defacement(message: str) -> None:
    profile, rng = _profiled()
    verdict = judge(profile, render(PAGE, rng).replace("</body>", f"<p>{message}</p></body>"))
    assert verdict.defaced and verdict.severity in ("high", "critical"), verdict.reasons


def test_news_story_on_a_page_that_lost_its_recurring_elements_is_a_defacement() -> None:
    profile, _ = _profiled()
    heading, body = HACKING_NEWS[1]
    verdict = judge(profile, f"<html><head><title>News</title></head><body>{_story(heading, body)}</body></html>")
    assert verdict.defaced and any(reason.startswith("signature: 'hacked by'") for reason in verdict.reasons)


def test_news_story_without_a_profile_is_not_excused() -> None:
    heading, body = HACKING_NEWS[0]
    assert judge(None, f"<html><body>{_story(heading, body)}</body></html>").defaced


@pytest.mark.parametrize("line, excerpt, want", [
    ("police said the city portal was hacked by an unknown group on sunday night and was restored", "hacked by",
     True),
    ("hacked by an unknown group on sunday night, police said, and the portal was restored later that day",
     "hacked by", False),                                       # the claim opens the line
    ("police said the city portal was hacked by xroot_team on sunday night and was restored the same day",
     "hacked by", False),                                       # a crew-like name follows
    ("the portal was hacked by an unknown group on sunday night and then it was restored the same day ok",
     "hacked by", False),                                       # nobody reports it
    ("hacked by x", "hacked by", False),                         # short: a banner
])
def test_reported_reads_the_line_around_the_claim(line: str, excerpt: str, want: bool) -> None:
    assert context.reported(line, line, excerpt) is want
