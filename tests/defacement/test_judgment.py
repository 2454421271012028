"""Judgment that generalises: maintenance is not defacement, default server pages are lost content, a news
story naming gambling sites on a news site is not spam, and `deface check` judges at first sight."""

from __future__ import annotations

import glob
import json
import os
import random
import subprocess
import sys

import pytest
from deface_testlib import corpus_root, read

from govwatch.agents.defacement.detector import judge
from govwatch.agents.defacement.monitor import SiteMonitor
from govwatch.agents.defacement.profile import learn
from govwatch.agents.defacement.synth import render

NEWS_PAGE = sorted(glob.glob(os.path.join(corpus_root(), "legit", "*berita*.html")))
MAINTENANCE = ("<html><head><title>Under maintenance</title></head><body><h1>We will be back soon</h1>"
               "<p>The site is under scheduled maintenance until 18:00.</p></body></html>")
MAINTENANCE_KM = ("<html><head><title>ក្រសួងពាណិជ្ជកម្ម</title></head><body><h1>គេហទំព័រកំពុងថែទាំ</h1>"
                  "<p>សូមអភ័យទោស យើងនឹងត្រឡប់មកវិញឆាប់ៗ</p></body></html>")
DEFAULTS = {
    "apache": "<html><body><h1>It works!</h1></body></html>",
    "apache_ubuntu": "<html><head><title>Apache2 Ubuntu Default Page: It works</title></head><body><p>x</p></body>",
    "nginx": "<html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1></body></html>",
    "iis": '<html><head><title>IIS Windows Server</title></head><body><img src="iisstart.png" alt="IIS"></body>',
    "listing": '<html><head><title>Index of /</title></head><body><h1>Index of /</h1><a href="a/">a/</a></body>',
    "empty_body": "<html><head><title></title></head><body></body></html>",
    "nothing": "",
}


@pytest.mark.parametrize("html", [MAINTENANCE, MAINTENANCE_KM])
def test_maintenance_page_is_maintenance_not_defaced(html: str) -> None:
    legit = read(sorted(glob.glob(os.path.join(corpus_root(), "legit", "*.html")))[0])
    profile = learn([legit])
    for verdict in (judge(profile, html), judge(None, html)):
        assert verdict.maintenance and not verdict.defaced and verdict.severity == "info"


def test_maintenance_page_is_never_learned_as_the_site() -> None:
    monitor = SiteMonitor("moc", "https://moc.gov.kh/", learn_samples=1)
    monitor.observe(MAINTENANCE)
    assert monitor.profile is None and monitor.state()["maintenance"]


def test_a_defacement_calling_itself_maintenance_is_still_defaced() -> None:
    html = MAINTENANCE.replace("</body>", "<h2>Hacked by Ph4nt0m Squad</h2></body>")
    verdict = judge(None, html)
    assert verdict.defaced and not verdict.maintenance


@pytest.mark.parametrize("kind", sorted(DEFAULTS))
def test_default_server_pages_at_first_sight_are_content_lost_medium(kind: str) -> None:
    verdict = judge(None, DEFAULTS[kind])
    assert verdict.defaced and verdict.severity == "medium"
    assert verdict.findings[0]["sensor"] == "content_lost"


@pytest.mark.skipif(not NEWS_PAGE, reason="no news page in the corpus")
def test_news_story_naming_gambling_sites_on_a_news_site_is_not_spam() -> None:
    html = read(NEWS_PAGE[0])
    rng = random.Random(1)
    profile = learn([render(html, rng) for _ in range(3)])
    story = ('<div class="news-item"><h3><a href="/news/77.html">Police warn citizens about illegal gambling</a></h3>'
             "<p>The ministry warns citizens not to visit judi online and slot gacor sites advertised on social "
             "media; several people lost their savings to online casino operators, police said on Monday.</p></div>")
    verdict = judge(profile, render(html, rng).replace("</body>", story + "</body>"))
    assert not verdict.defaced, verdict.reasons
    spam = render(html, rng).replace("</body>", '<p>slot gacor maxwin hari ini <a href="https://gacor88.example/">'
                                                "daftar</a></p></body>")
    assert judge(profile, spam).defaced


def test_deface_check_without_profile_judges_at_first_sight(tmp_path) -> None:
    page = tmp_path / "page.html"
    page.write_text(DEFAULTS["nginx"])
    done = subprocess.run([sys.executable, "-m", "govwatch.cli", "deface", "check", str(page)], capture_output=True,
                          text=True, timeout=300)
    line = json.loads(done.stdout)
    assert done.returncode == 1 and line["defaced"] and line["file"] == str(page)
    assert {"file", "defaced", "score", "reasons"} <= set(line)


def test_package_entry_point_judges_with_linked_stylesheets() -> None:
    from govwatch.agents.defacement import judge as entry

    html = '<body><p>Ministry of Commerce</p><div class="x"></div></body>'
    assert not entry(html).defaced
    assert entry(html, "https://moc.gov.kh/", None, stylesheets=['.x::after{content:"hacked by ghost crew"}']).defaced


def test_inside_a_maintenance_window_a_replaced_page_is_maintenance_but_an_attack_is_not() -> None:
    legit = read(sorted(glob.glob(os.path.join(corpus_root(), "legit", "*.html")))[3])
    monitor = SiteMonitor("moc", "https://moc.gov.kh/", learn_samples=1, defaced_after=1)
    monitor.observe(legit)
    notice = "<html><head><title>Upgrade</title></head><body><h1>New portal coming</h1><p>Back at 18:00</p></body>"
    assert monitor.observe(notice, maintenance_window=True) is None
    assert monitor.last_verdict.maintenance and not monitor.defaced
    change = monitor.observe(notice.replace("</body>", "<h2>Hacked by Ph4nt0m Squad</h2></body>"),
                             maintenance_window=True)
    assert change is not None and change.state == "defaced"


def test_deface_check_url_reads_the_linked_stylesheet(tmp_path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    files = {"/": ('<html><head><title>Ministry</title><link rel="stylesheet" href="/theme.css"></head>'
                   '<body><h1>Ministry of Commerce</h1><div class="notice"></div></body></html>', "text/html"),
             "/theme.css": ('.notice::before{content:"Hacked by Ph4nt0m Squad"}', "text/css")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            body, kind = files.get(self.path, ("", "text/plain"))
            data = body.encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", '"v1"')
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="test-css-site", daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        done = subprocess.run([sys.executable, "-m", "govwatch.cli", "deface", "check", "--url", url],
                              capture_output=True, text=True, timeout=300)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    line = json.loads(done.stdout)
    assert done.returncode == 1 and line["defaced"], (done.stdout, done.stderr)
