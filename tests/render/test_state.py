"""The rendered view's memory without a browser (synthetic renders): learning, hysteresis, a new skimmer
domain, rebaseline accepting the new look, and saved state that cannot be trusted is relearned."""

from __future__ import annotations

import io

from PIL import Image

from govwatch.collector.render.page import Render
from govwatch.collector.render.state import SiteRender
from govwatch.collector.render.visual import fingerprint

URL = "http://127.0.0.1:8080/"
PAGE = ("<html><head><title>Ministry of Commerce</title></head><body><h1>Ministry of Commerce</h1>"
        "<p>Welcome to the official portal of the Ministry.</p><p>Trade figures for October.</p>"
        "<footer>Phnom Penh</footer></body></html>")


def look(grey: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (1280, 900), grey).save(out, "PNG")
    return fingerprint(out.getvalue())


def render(domains: dict[str, str] | None = None) -> Render:
    return Render(url=URL, started=0.0, final_url=URL, referrer_final_url=URL, status=200, dom=PAGE,
                  domains=domains or {"127.0.0.1": "Document"})


def learned() -> SiteRender:
    state = SiteRender("moc", URL)
    for index in range(3):
        assert state.observe(render(), look(230), f"good-{index}").change is None
    assert state.current == "clean"
    return state


def test_two_defaced_renders_raise_and_two_clean_clear():
    state = learned()
    bad = render({"127.0.0.1": "Document", "skim.example": "Fetch"})
    first = state.observe(bad, look(230), "bad")
    assert first.verdict.defaced and first.change is None and state.pending
    assert "skim.example" in first.verdict.new_domains
    assert state.observe(bad, look(230), "bad").change == "defaced"
    assert state.observe(render(), look(230), "ok").change is None
    assert state.observe(render(), look(230), "ok").change == "clean"


def test_rebaseline_accepts_the_new_look():
    state = learned()
    assert state.observe(render(), look(10), "black").verdict.defaced
    state.observe(render(), look(10), "black")
    assert state.defaced and state.rebaseline(now=100.0)
    assert state.observe(render(), look(230), "stale") is None   # begun before the rebaseline: not trusted
    new = render()
    new.started = 101.0
    new.dom = PAGE.replace("Trade figures", "Hacked by Team Shadow. Trade figures")  # accepted whatever it says
    outcome = state.observe(new, look(10), "black")
    assert outcome.learned and outcome.change is None and state.current == "clean"
    assert state.baseline.shots == ["black"] and not state.defaced
    again = state.observe(new, look(10), "again")
    assert not again.verdict.defaced, again.verdict.reasons


def test_saved_state_round_trips_and_foreign_state_is_relearned():
    state = learned()
    again = SiteRender.from_dict(state.to_dict(), "moc", URL)
    assert again.current == "clean" and len(again.baseline.prints) == 3 and again.profile is not None
    assert SiteRender.from_dict(state.to_dict(), "moc", "http://other/").current == "learning"
    assert SiteRender.from_dict({"version": 1, "url": URL, "profile": {"version": 99}}, "moc", URL).profile is None
