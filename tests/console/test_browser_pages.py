"""Every console page in real headless Chromium, in English and Khmer, at desktop and phone width:
screenshots under test-artifacts/console/, and no untranslated English on a Khmer page (outside names,
addresses, code and the analysed pages' own text; see govwatch.collector.locale.check)."""

from __future__ import annotations

from pathlib import Path

import pytest

from govwatch.collector.locale.check import english_words
from govwatch.events import Event

from .conftest import ADMIN_PASSWORD, VIEWER_PASSWORD, Agent
from .test_browser import CHROMIUM, DRIVER, By, fill, submit, wait

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
NAMES = {"ana", "vic", "web-01", "web-02", "web-03", "web-04", "moc-home", "srv-01.moc.gov.kh", "MoC", "admin-token",
         "collector init"}
SIZES = {"desktop": (1280, 1000), "phone": (390, 1000)}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM or not DRIVER, reason="needs Debian chromium and chromium-driver"),
]


def shoot(browser, name: str, size: str) -> None:
    """A full-height screenshot at the given width."""
    width, height = SIZES[size]
    browser.set_window_size(width, height)
    full = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(max(full + 140, height), 5000))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{name}-{size}.png"))
    browser.set_window_size(*SIZES["desktop"])


def visit(browser, url: str, lang: str, name: str) -> str:
    browser.get(f"{url}{'&' if '?' in url else '?'}lang={lang}")
    wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
    for size in SIZES:
        shoot(browser, f"{name}-{lang}", size)
    return browser.page_source


def check_khmer(page: str, where: str) -> None:
    found = english_words(page, NAMES)
    assert not found, f"{where}: English on a Khmer page: {sorted(set(found))}"


def test_every_page_in_both_languages_and_on_a_phone(collector, incidents, browser):
    url = collector.url
    Agent(collector, "web-04").post(Event("heartbeat", {
        "version": "0.1.0", "hostname": "srv-01.moc.gov.kh", "ministry": "MoC", "watchers": ["fim", "traffic"],
        "spool_backlog": 3, "stats": {"fim": {"watched_files": 1200}, "traffic": {"packets": 53000}}}, "info", "hb"))
    for lang in ("en", "km"):
        for path, name in (("/login", "login"), ("/setup", "setup")):
            page = visit(browser, url + path, lang, name)
            if lang == "km":
                check_khmer(page, path)
    browser.get(f"{url}/setup")
    fill(browser, token=collector.admin_token, username="ana", password=ADMIN_PASSWORD, password2=ADMIN_PASSWORD)
    submit(browser, 'form[action="/setup"]')
    browser.get(f"{url}/users")
    fill(browser, username="vic", password=VIEWER_PASSWORD)
    submit(browser, 'form[action="/users"]')
    pages = [("/", "incidents"), ("/agents", "agents"), ("/sites", "sites"), ("/users", "users"),
             ("/incidents/999999", "not-found")]
    pages += [(f"/incidents/{number}", f"incident-{kind}") for kind, number in incidents.items()]
    for lang in ("en", "km"):
        for path, name in pages:
            page = visit(browser, url + path, lang, name)
            if lang == "km":
                check_khmer(page, path)
                if name == "incident-fim":  # diffs and commands keep their monospace face under Khmer
                    for css in ("pre.udiff span.add", "pre.cmd", "h3 code"):
                        face = browser.execute_script(
                            f"return getComputedStyle(document.querySelector('{css}')).fontFamily")
                        assert "monospace" in face, (css, face)
            else:
                assert not any("\u1780" <= c <= "\u17ff" for c in page.replace("ភាសាខ្មែរ", "")), path
    assert len(list(ARTIFACTS.glob("*-km-phone.png"))) == len(pages) + 2
