"""The collector's rendered view end to end: learn a site from renders, catch an image-only defacement that
the static probe misses, open the incident with both screenshots, export the render metrics; the console
(in headless Chromium) shows the known-good and current screenshots side by side."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import requests
import yaml

from .conftest import CHROMIUM, needs_chromium, png

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _config(tmp_path: Path, url: str, render: dict) -> Path:
    from govwatch.collector.init import init_collector

    data_dir = tmp_path / "collector"
    init_collector(str(data_dir))
    path = data_dir / "collector.yml"
    cfg = yaml.safe_load(path.read_text())
    cfg.pop("tls", None)
    cfg.update({"listen": "127.0.0.1:0", "render": render,
                "sites": [{"name": "moc", "url": url, "interval": "1h", "defacement": True}]})
    path.write_text(yaml.safe_dump(cfg))
    return path


def _console_helpers():
    """The console tests' own staff helpers (loaded by path: every test folder has a `conftest`)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "console" / "conftest.py"
    spec = importlib.util.spec_from_file_location("console_test_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _until(condition, what: str, nudge=None, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if nudge:
            nudge()
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _open_in_browser(url: str, cookies: dict[str, str], shot: Path) -> dict:
    """Open a console page in a sandboxed headless Chromium with the session cookie; report its images."""
    from govwatch.collector.render.browser import Browser

    browser = Browser(CHROMIUM)
    browser.start()
    try:
        conn = browser.conn
        context = conn.call("Target.createBrowserContext")["browserContextId"]
        target = conn.call("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"]
        session = conn.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        conn.call("Network.enable", {}, session)
        for name, value in cookies.items():
            conn.call("Network.setCookie", {"name": name, "value": value, "url": url}, session)
        conn.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 1400, "deviceScaleFactor": 1,
                                                         "mobile": False}, session)
        conn.call("Page.navigate", {"url": url}, session, timeout=30)
        probe = ("(() => { const imgs = [...document.querySelectorAll('.shots img')];"
                 " return JSON.stringify({ready: document.readyState, title: document.title, imgs: imgs.map("
                 "i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0,"
                 " shown: i.getBoundingClientRect().width}))}); })()")
        state = _until(lambda: _loaded(conn, session, probe), "the incident page with two loaded screenshots",
                       timeout=60)
        shot.parent.mkdir(exist_ok=True)
        _capture(conn, session, shot)
        conn.call("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 1600, "deviceScaleFactor": 1,
                                                         "mobile": True}, session)
        phone = _until(lambda: _loaded(conn, session, probe), "the page at phone width", timeout=30)
        _capture(conn, session, shot.with_name(shot.stem + "-phone.png"))
        state["phone_widths"] = [i["shown"] for i in phone["imgs"]]
        return state
    finally:
        browser.kill()


def _capture(conn, session, path: Path) -> None:
    import base64

    data = conn.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
    path.write_bytes(base64.b64decode(data["data"]))


def _loaded(conn, session, probe) -> dict | None:
    value = conn.call("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session)
    state = json.loads(value["result"]["value"])
    return state if len(state["imgs"]) == 2 and all(i["ok"] for i in state["imgs"]) else None


@pytest.mark.slow
@needs_chromium
def test_image_defacement_incident_has_both_screenshots_and_console_shows_them(tmp_path, sites):
    setup_admin = _console_helpers().setup_admin
    from govwatch.collector.config import load_config
    from govwatch.collector.service import Collector

    site, url, _ = sites
    site.reset()
    collector = Collector(load_config(str(_config(tmp_path, url, {"interval": "1h", "concurrency": 1}))))
    collector.start()
    try:
        render = collector.render
        assert render is not None, "rendering should be on: chromium is installed"
        nudge = lambda: render.pool.nudge("moc")  # noqa: E731
        _until(lambda: render.states.get("moc") and render.states["moc"].current == "clean",
               "three learning renders", nudge)
        site.put("/hero.png", png((0, 0, 0), "HACKED BY TEAM SHADOW"), "image/png")
        row = _until(lambda: collector.store.query("SELECT * FROM incidents WHERE kind='defacement'"),
                     "the render's defacement incident", nudge)[0]
        views = [v for v in json.loads(row["evidence"])["views"] if v["source"] == "render"]
        assert views and views[0]["state"] == "defaced" and views[0]["visual_difference"] >= 0.5, views
        now, good = views[0]["screenshot"], views[0]["known_good_screenshot"]
        assert now and good and now != good and render.shots.path(now) and render.shots.path(good)
        static = collector.store.query("SELECT defaced FROM defacement_state WHERE site='moc' AND source='collector'")
        assert not any(r["defaced"] for r in static), "the static probe should not see an image-only defacement"
        metrics = requests.get(f"{collector.url}/metrics", timeout=10).text
        assert 'govwatch_site_render_duration_seconds{site="moc"}' in metrics
        assert 'govwatch_site_render_visual_difference_ratio{site="moc"}' in metrics
        assert 'govwatch_defacement_detected{site="moc"} 1.0' in metrics
        staff = setup_admin(collector)
        assert staff.get(f"{collector.url}/render/shots/{now}.png", timeout=10).content.startswith(b"\x89PNG")
        assert requests.get(f"{collector.url}/render/shots/{now}.png", timeout=10,
                            allow_redirects=False).status_code in (302, 303)   # not without a session
        latest = staff.get(f"{collector.url}/sites/moc/screenshot.png", timeout=10)   # the alert's link
        last = collector.store.query("SELECT screenshot FROM render_state WHERE site='moc'")[0]["screenshot"]
        assert latest.status_code == 200 and hashlib.sha256(latest.content).hexdigest() == last
        assert staff.get(f"{collector.url}/sites/nosuch/screenshot.png", timeout=10).status_code == 404
        page = _open_in_browser(f"{collector.url}/incidents/{row['id']}", staff.cookies.get_dict(),
                                ARTIFACTS / "console-render-incident.png")
        assert [i["alt"] for i in page["imgs"]] == ["Known good", "Now"], page
        assert all(width > 300 for width in page["phone_widths"]), page   # one above the other on a phone
        # A legitimate redesign: rebaseline accepts the new look; the next renders learn it and stay clean.
        rebased = time.time()
        answer = requests.post(f"{collector.url}/api/v1/sites/moc/rebaseline", timeout=10,
                               headers={"Authorization": f"Bearer {collector.admin_token}"})
        assert answer.status_code == 200, answer.text
        _until(lambda: render.states["moc"].current == "clean", "the next render accepted as the new look", nudge)
        assert render.states["moc"].baseline.prints and render.states["moc"].accept_after is None
        _until(lambda: collector.store.query("SELECT 1 FROM render_state WHERE site='moc' AND ts > ?", (rebased,)),
               "a render after the rebaseline", nudge)
        assert not render.states["moc"].defaced
        metrics = requests.get(f"{collector.url}/metrics", timeout=10).text
        assert 'govwatch_defacement_detected{site="moc"} 0.0' in metrics
    finally:
        site.reset()
        collector.stop()
