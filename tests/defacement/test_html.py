"""The HTML reader: what a visitor sees, what is hidden from them, and what the page loads."""

from __future__ import annotations

import pytest

from govwatch.agents.defacement.html import parse

PAGE = """<!doctype html><HTML><HEAD><TITLE>Ministry &amp; Commerce</TITLE>
<style>.seo{display:none} #x { position:absolute; left:-9999px }</style>
<script src="https://cdn.example.org/app.js"></script><script>var a = "<b>not text</b>";</script></HEAD>
<BODY><h1 id="brand">Ministry of <b>Commerce</b></h1><p>Visible   news</p>
<div class="box seo"><a href="https://slot.example/">slot gacor</a></div>
<div id="x"><a href="https://judi.example/">judi</a></div>
<!-- <a href="https://commented.example/">old</a> -->
<iframe src="https://ads.example/x" width="1" height="1"></iframe>
<meta http-equiv="refresh" content="0;url=https://away.example/">
<img src="/logo.png?v=3"><form action="https://phish.example/post"></form></BODY></HTML>"""


def test_visible_text_title_and_landmarks() -> None:
    page = parse(PAGE)
    assert page.title == "ministry & commerce"
    assert "ministry of commerce" in page.text and "visible news" in page.text
    assert not any("not text" in t for t in page.text)
    assert {"h:ministry of commerce", "id:brand", "img:/logo.png"} <= page.landmarks


def test_hidden_by_css_class_and_id_rules_in_the_page_style() -> None:
    page = parse(PAGE)
    hidden = {link.url: link.hidden for link in page.links if link.tag == "a"}
    assert hidden == {"https://slot.example/": True, "https://judi.example/": True}
    assert "slot gacor" in page.hidden_text and "slot gacor" not in page.text


@pytest.mark.parametrize("style", ["display:none", "DISPLAY: NONE", "visibility:hidden", "font-size:0",
                                   "font-size: 0px", "position:absolute;top:-1200px", "text-indent:-5000px",
                                   "height:0;overflow:hidden", "opacity:0"])
def test_inline_hiding_styles(style: str) -> None:
    page = parse(f'<body><p>news</p><div style="{style}"><div><a href="https://x.example/">spam</a></div></div>'
                 f'<p>after</p></body>')
    assert [link.hidden for link in page.links] == [True]
    assert page.text == ["news", "after"] and page.hidden_text == ["spam"]


@pytest.mark.parametrize("style", ["display:block", "font-size:10px", "opacity:0.5", "left:-5px", "height:0.5em"])
def test_visible_styles_stay_visible(style: str) -> None:
    page = parse(f'<body><div style="{style}"><a href="https://x.example/">link</a></div></body>')
    assert [link.hidden for link in page.links] == [False]


def test_links_frames_scripts_refresh() -> None:
    page = parse(PAGE)
    tags = {(link.tag, link.url) for link in page.links}
    assert ("script", "https://cdn.example.org/app.js") in tags and ("form", "https://phish.example/post") in tags
    assert not any("commented" in url for _, url in tags)
    assert [(f.src, f.tiny) for f in page.frames] == [("https://ads.example/x", True)]
    assert page.refresh == ["0;url=https://away.example/"]
    assert page.scripts == ['var a = "<b>not text</b>";']


def test_unclosed_and_broken_markup_does_not_raise() -> None:
    page = parse("<html><body><div><p>one<p>two<div style='display:none'><a href=x>y")
    assert page.text == ["one", "two"] and page.hidden_text == ["y"]


LINKS = '<a href="https://slot88.example/">slot gacor</a> <a href="https://togel.example/">togel online</a>'


@pytest.mark.parametrize("css, block", [
    ("div.sp{position:absolute;left:-9999px}", '<div class="a sp">{}</div>'),
    ("#footer .links{height:0;overflow:hidden}", '<div id="footer"><div class="links">{}</div></div>'),
    (".a > a{font-size:0}", '<div class="a">{}</div>'),
    ('[class*="seo-"]{opacity:0}', '<div class="x seo-block">{}</div>'),
    ("div[id^=lnk]{clip:rect(0,0,0,0);position:absolute}", '<div id="lnk5">{}</div>'),
    ("body .q{text-indent:-9999px}", '<div class="q">{}</div>'),
    ("section.k ul{visibility:hidden}", '<section class="k"><ul><li>{}</li></ul></section>'),
    (".f p.z{color:#fff;background-color:#ffffff}", '<div class="f"><p class="z">{}</p></div>'),
    (".w{transform:translateX(-9999px)}", '<div class="w">{}</div>'),
    (".a.b{width:0;height:0;overflow:hidden}", '<div class="b a">{}</div>'),
])
def test_spam_block_hidden_by_compound_css_selector(css: str, block: str) -> None:
    page = parse(f"<style>{css}</style><body><p>news</p>{block.format(LINKS)}<p>after</p></body>")
    assert [link.hidden for link in page.links] == [True, True]
    assert page.text == ["news", "after"] and any("slot gacor" in t for t in page.hidden_text)


@pytest.mark.parametrize("css, block", [
    (".m:hover a{display:none}", '<div class="m">{}</div>'),                          # only on interaction
    ("@media (max-width:600px){div.sp{display:none}}", '<div class="sp">{}</div>'),   # only on small screens
    ("div.sp{left:-5px;font-size:12px}", '<div class="sp">{}</div>'),                  # not hiding
    ("#footer .links{display:none}", '<div id="header"><div class="links">{}</div></div>'),   # wrong ancestor
])
def test_css_that_does_not_hide_the_block_leaves_it_visible(css: str, block: str) -> None:
    page = parse(f"<style>{css}</style><body>{block.format(LINKS)}</body>")
    assert [link.hidden for link in page.links] == [False, False]


def test_css_hides_what_a_browser_hides_even_when_it_is_every_link() -> None:
    page = parse(f"<style>div a{{display:none}}</style><body><p>news</p><div>{LINKS}</div></body>")
    assert [link.hidden for link in page.links] == [True, True] and page.text == ["news"]


def test_hidden_menu_is_hidden_text_and_raises_nothing_on_its_own() -> None:
    from govwatch.agents.defacement.detector import judge
    from govwatch.agents.defacement.profile import learn

    html = ('<style>.menu ul{display:none} .menu:hover ul{display:block}</style><body><div class="menu">'
            '<a href="/">Home</a><ul><li><a href="/profil">Profil</a></li><li><a href="/bandar">Bandara</a></li>'
            '</ul></div><p>Ministry news of the week</p></body>')
    page = parse(html)
    assert "profil" in page.hidden_text and "home" in page.text
    assert judge(learn([html]), html).score < 0.2 and not judge(None, html).defaced
