"""The pool under trouble, with a real Chromium: an endless script is cut off within its budget while the
other sites keep being rendered; a legitimate dynamic page raises nothing over 20 renders."""

from __future__ import annotations

import queue
import time

import pytest

from .conftest import CHROMIUM, needs_chromium

pytestmark = [pytest.mark.slow, needs_chromium]

DYNAMIC = """<!doctype html><html><head><meta charset="utf-8"><title>Ministry of Tourism</title><style>
body{margin:0;font-family:sans-serif} #banner{height:260px;color:#fff;font-size:40px;padding:20px}
.track{display:flex;width:300%;animation:slide 3s linear infinite}.slide{width:33.3%;height:200px}
@keyframes slide{from{transform:translateX(0)}to{transform:translateX(-66%)}}</style></head><body>
<header><h1>Ministry of Tourism</h1><nav><a href="/">Home</a> <a href="/visit">Visit Cambodia</a></nav></header>
<div id="banner">Welcome</div><div style="overflow:hidden"><div class="track">
<div class="slide" style="background:#c33"></div><div class="slide" style="background:#3c3"></div>
<div class="slide" style="background:#33c"></div></div></div>
<main><h2>Discover the Kingdom of Wonder</h2><p>Angkor Wat, the coast and the Mekong welcome visitors all year.</p>
<p>Today is <span id="date"></span>. Visitors this month: <span id="count"></span>.</p></main>
<footer>Phnom Penh</footer><script>
var offers=[["Angkor sunrise tours","#2a6"],["Kampot pepper festival","#a62"],["Koh Rong beaches","#26a"]];
var i=Math.floor(Math.random()*offers.length);function show(){var b=document.getElementById('banner');
b.textContent=offers[i][0];b.style.background=offers[i][1];i=(i+1)%offers.length;}show();setInterval(show,400);
document.getElementById('date').textContent=new Date().toString();
document.getElementById('count').textContent=Math.floor(Math.random()*100000);
</script></body></html>"""


def test_endless_script_is_cut_off_and_other_sites_keep_rendering(sites):
    from govwatch.collector.render.pool import RenderPool

    site, url, _ = sites
    site.reset()
    site.put("/loop", "<html><body><h1>Busy</h1><script>for(;;){}</script></body></html>")
    results: queue.Queue = queue.Queue()
    good = [{"name": f"good-{i}", "url": url} for i in range(3)]
    pool = RenderPool([{"name": "loop", "url": url + "loop"}, *good], CHROMIUM,
                      lambda s, render, nudged: results.put((s["name"], render, time.monotonic())),
                      concurrency=2, interval=3600, budget=15.0)
    pool.start()
    for name in ["loop"] + [g["name"] for g in good]:
        pool.nudge(name)
    try:
        seen: dict[str, list] = {}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (seen.get("loop") and
                                                   sum(len(seen.get(g["name"], [])) for g in good) >= 6):
            try:
                name, render, at = results.get(timeout=5)
            except queue.Empty:
                continue
            seen.setdefault(name, []).append((render, at))
            if name != "loop":
                pool.nudge(name)   # keep the good sites coming while the loop page runs
    finally:
        pool.stop()
    loop_render, loop_done = seen["loop"][0]
    assert loop_render.reason == "timeout", (loop_render.reason, loop_render.error)
    assert "cut off" in loop_render.error
    assert loop_render.duration < 15.0 + 10.0     # budget + terminate/dispose grace, never a hang
    good_renders = [r for g in good for r, _ in seen.get(g["name"], [])]
    assert len(good_renders) >= 6 and all(r.ok for r in good_renders), [(r.reason, r.error) for r in good_renders]
    during = [at for g in good for r, at in seen.get(g["name"], []) if at < loop_done]
    assert during, "no other site was rendered while the endless script ran"


def test_legitimate_dynamic_page_raises_nothing_over_20_renders(sites, browser):
    from govwatch.collector.render.page import Renderer
    from govwatch.collector.render.state import SiteRender
    from govwatch.collector.render.visual import fingerprint

    site, url, _ = sites
    site.reset()
    site.put("/", DYNAMIC)
    state = SiteRender("mot", url)
    renderer = Renderer(browser, budget=30)
    scores, differences = [], []
    try:
        for index in range(20):
            render = renderer.render(url)
            assert render.ok, render.error
            outcome = state.observe(render, fingerprint(render.screenshot), f"shot-{index}")
            assert outcome.change != "defaced" and not outcome.verdict.defaced, (index, outcome.verdict.reasons)
            scores.append(outcome.verdict.score)
            differences.append(outcome.verdict.visual_difference)
    finally:
        site.reset()
    assert state.current == "clean" and max(scores) < 0.5, (scores, differences)


def test_huge_dom_is_read_bounded(sites, browser):
    from govwatch.collector.render.page import MAX_DOM, Renderer

    site, url, _ = sites
    site.reset()
    site.put("/huge", "<html><body><script>var b=[];for(var i=0;i<120000;i++){b.push('<p class=x>row '+i+"
             "' of a very long generated table of figures</p>')}document.body.innerHTML=b.join('');"
             "</script></body></html>")
    try:
        render = Renderer(browser, budget=30).render(url + "huge", referrer_check=False)
    finally:
        site.reset()
    assert render.ok, render.error
    assert render.dom_size > MAX_DOM and len(render.dom) == MAX_DOM


def test_a_browser_killed_mid_render_is_reported_and_restarted(sites):
    from govwatch.collector.render.pool import RenderPool

    site, url, _ = sites
    site.reset()
    site.put("/loop", "<html><body><script>for(;;){}</script></body></html>")
    results: queue.Queue = queue.Queue()
    pool = RenderPool([{"name": "loop", "url": url + "loop"}, {"name": "good", "url": url}], CHROMIUM,
                      lambda s, render, nudged: results.put((s["name"], render)), concurrency=1, interval=3600,
                      budget=60.0)
    pool.start()
    try:
        pool.nudge("loop")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (pool._browsers and pool._browsers[0].alive
                                                   and "loop" in pool._busy):
            time.sleep(0.1)
        time.sleep(1.0)  # the loop page is running now
        first = pool._browsers[0]
        first.kill_process()   # as a crash would
        name, render = results.get(timeout=60)
        assert name == "loop" and render.reason == "crash", (render.reason, render.error)
        pool.nudge("good")
        deadline = time.monotonic() + 180
        while True:   # the crashed site may be retried first (its budget runs out again): wait for "good"
            name, render = results.get(timeout=max(1.0, deadline - time.monotonic()))
            if name == "good":
                break
        assert render.ok, render.error
        assert first.starts == 2 and pool.restarts.get("crash") == 1
    finally:
        pool.stop()
        site.reset()
