"""Evasion classes: a banner placed where a regex reader and a browser disagree is read as a browser paints it.

Each case injects a visible "hacked by" banner (or an image overlay) into a real corpus page, in a place
Chromium renders (checked by reasoning on the HTML5 tree-building rules and, for the CSS cases, by
headless-Chromium screenshots while writing them), and judges it against the page's learned profile.
"""

from __future__ import annotations

import glob
import os
import random

import pytest
from deface_testlib import corpus_root, read

from govwatch.agents.defacement.detector import judge
from govwatch.agents.defacement.html import parse
from govwatch.agents.defacement.profile import learn
from govwatch.agents.defacement.synth import EVASION_BANNER, EVASIONS, inject_evasion, render

PAGES = sorted(glob.glob(os.path.join(corpus_root(), "legit", "*.html")))[:6]
BANNER = EVASION_BANNER


def _inject(html: str, snippet: str) -> str:
    low = html.lower()
    at = low.find("<body")
    at = low.find(">", at) + 1 if at >= 0 else 0
    return html[:at] + snippet + html[at:]


def _profile(path: str, seed: int):
    rng = random.Random(f"{path}:{seed}")
    html = read(path)
    return learn([render(html, rng) for _ in range(3)]), render(html, rng)


@pytest.mark.parametrize("kind", sorted(EVASIONS))
@pytest.mark.parametrize("path", PAGES, ids=os.path.basename)
def test_banner_a_browser_paints_is_caught(kind: str, path: str) -> None:
    profile, candidate = _profile(path, 1)
    verdict = judge(profile, inject_evasion(candidate, kind))
    assert verdict.defaced, (kind, verdict.reasons)


def test_text_in_a_head_that_is_not_head_content_is_moved_and_read() -> None:
    page = parse("<html><head><title>t</title>" + BANNER + "<meta charset=utf-8></head><body><p>x</p></body></html>")
    assert page.text[0] == BANNER.lower()


def test_form_controls_and_svg_text_are_visible_text() -> None:
    page = parse('<body><select><option>one</option></select><textarea>two</textarea><input value="three">'
                 '<input type="hidden" value="secret"><button>four</button><svg><title>no</title><text>five</text>'
                 '</svg><noscript>six</noscript></body>')
    assert sorted(page.text) == ["five", "four", "one", "three", "two"]   # a value is read after the text


def test_comment_endings_browsers_accept() -> None:
    page = parse("<body><!-- a --!><p>shown</p><!-- b -- ><p>still a comment</p> --><p>after</p></body>")
    assert page.text == ["shown", "after"]


def test_generated_content_and_hiding_by_not_and_attribute_selectors() -> None:
    page = parse('<style>p:not(.keep){display:none} [data-h^="y"]{visibility:hidden} .t::after{content:"gen"}'
                 '</style><body><p class="keep">kept</p><p>gone</p><div data-h="yes">hid</div><div class="t">'
                 'box</div></body>')
    assert page.text == ["kept", "box", "gen"] and page.hidden_text == ["gone", "hid"]


def test_linked_stylesheet_hides_and_writes() -> None:
    html = '<link rel="stylesheet" href="/site.css"><body><div class="ad">slot gacor</div><p>news</p></body>'
    page = parse(html, [".ad{position:absolute;left:-9999px} p::before{content:'HACKED BY x'}"])
    assert page.hidden_text == ["slot gacor"] and sorted(page.text) == ["hacked by x", "news"]
    assert page.stylesheets == ["/site.css"]


@pytest.mark.parametrize("path", PAGES, ids=os.path.basename)
def test_full_viewport_image_overlay_is_caught(path: str) -> None:
    profile, candidate = _profile(path, 2)
    overlay = ('<div style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:99999;'
               'background:url(https://x.example/pwn.jpg) center/cover"></div>')
    assert judge(profile, _inject(candidate, overlay)).defaced


def test_claim_in_a_comment_plus_a_little_visible_text() -> None:
    profile, candidate = _profile(PAGES[0], 3)
    verdict = judge(profile, _inject(candidate, "<!-- hacked by ghost crew --><p>we were here</p>"))
    assert verdict.defaced and any("comment" in r for r in verdict.reasons)
    alone = judge(profile, _inject(candidate, "<!-- hacked by ghost crew -->"))
    assert alone.score > judge(profile, candidate).score   # a comment claim raises, never hides


@pytest.mark.parametrize("script", [
    "document.write(atob('PGgxPkhBQ0tFRDwvaDE+'))",
    "document.body.innerHTML = '<center><h1>owned</h1></center>'",
    "var s=String.fromCharCode(60,104,49,62);document.getElementById('x').outerHTML=s",
])
def test_new_dom_writing_inline_script_alone_alarms(script: str) -> None:
    profile, candidate = _profile(PAGES[1], 4)
    assert judge(profile, _inject(candidate, f"<script>{script}</script>")).defaced


def test_full_title_swap_alarms() -> None:
    profile, candidate = _profile(PAGES[2], 5)
    low = candidate.lower()
    start, end = low.find("<title>"), low.find("</title>")
    swapped = candidate[:start] + "<title>Owned and Pwned - Ghost</title>" + candidate[end + 8:]
    assert judge(profile, swapped).defaced
