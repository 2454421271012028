"""The console in real headless Chromium (Debian `chromium` + `chromium-driver`, driven by Selenium)
against a real collector holding incidents that agents posted through the API.

Saves screenshots of the incident page (desktop and phone width) under test-artifacts/.
"""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .conftest import ADMIN_PASSWORD, VIEWER_PASSWORD, Agent, defacement_event

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM or not DRIVER,
                       reason="needs Debian chromium and chromium-driver (apt-get install chromium chromium-driver)"),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs the selenium package (test extra)")
By = pytest.importorskip("selenium.webdriver.common.by").By
EC = pytest.importorskip("selenium.webdriver.support.expected_conditions")
WebDriverWait = pytest.importorskip("selenium.webdriver.support.ui").WebDriverWait


@pytest.fixture
def attacker_site():
    """Another origin on loopback whose page auto-submits a form to the console (classic CSRF)."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, b"not here")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield pages, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def wait(driver, condition, timeout: float = 15):
    return WebDriverWait(driver, timeout).until(condition)


def fill(driver, **fields: str) -> None:
    for name, value in fields.items():
        box = driver.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)


def submit(driver, form_selector: str) -> None:
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, f"{form_selector} button").click()
    wait(driver, _replaced(old))


def _replaced(old):
    """Like EC.staleness_of, but chromedriver may answer "unhandled inspector error" instead of "stale element"
    while the old page is torn down: either means the form's answer replaced the page."""
    from selenium.common.exceptions import WebDriverException

    def gone(_driver) -> bool:
        try:
            old.is_enabled()
            return False
        except WebDriverException:
            return True
    return gone


def log_in(driver, url: str, user: str, password: str) -> None:
    driver.get(f"{url}/login")
    fill(driver, username=user, password=password)
    submit(driver, 'form[action="/login"]')


def status_of(collector, incident: int) -> str:
    return collector.store.query("SELECT status FROM incidents WHERE id=?", (incident,))[0]["status"]


def test_analyst_opens_defacement_sees_diff_and_acknowledges(collector, incidents, browser):
    url, defacement = collector.url, incidents["defacement"]
    browser.get(f"{url}/")
    assert "/login" in browser.current_url and browser.find_element(By.NAME, "password")
    browser.find_element(By.LINK_TEXT, "Create the first administrator").click()
    fill(browser, token=collector.admin_token, username="ana", password=ADMIN_PASSWORD, password2=ADMIN_PASSWORD)
    submit(browser, 'form[action="/setup"]')
    first = browser.find_element(By.CSS_SELECTOR, "table.incidents tbody tr td.title a")
    assert first.get_attribute("href").endswith(f"/incidents/{defacement}")  # critical and oldest: on top
    first.click()
    wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "table.diff")))
    removed = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "table.diff td.del")]
    added = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "table.diff td.add")]
    assert "Welcome to the official portal of the Ministry" in removed and "Hacked by Team Shadow" in added
    assert "evil-cdn.example" in browser.find_element(By.CSS_SELECTOR, ".view").text
    ARTIFACTS.mkdir(exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(max(height + 140, 1000), 4000))
    browser.save_screenshot(str(ARTIFACTS / "console-incident.png"))
    browser.set_window_size(390, 1700)
    browser.save_screenshot(str(ARTIFACTS / "console-incident-phone.png"))
    browser.set_window_size(1280, 1000)
    submit(browser, f'form[action="/incidents/{defacement}/acknowledge"]')
    assert "Incident acknowledged." in browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert browser.find_element(By.CSS_SELECTOR, "dl.facts .status").text == "acknowledged"
    assert status_of(collector, defacement) == "acknowledged"
    assert not browser.find_elements(By.CSS_SELECTOR, f'form[action="/incidents/{defacement}/acknowledge"]')


def test_incident_list_refreshes_live_and_reads_in_khmer(collector, incidents, browser):
    browser.get(f"{collector.url}/setup")
    fill(browser, token=collector.admin_token, username="ana", password=ADMIN_PASSWORD, password2=ADMIN_PASSWORD)
    submit(browser, 'form[action="/setup"]')
    browser.get(f"{collector.url}/?lang=km")
    assert browser.find_element(By.TAG_NAME, "h1").text == "ឧប្បត្តិហេតុ"
    Agent(collector, "web-09").post(defacement_event(site="mef-home"))
    wait(browser, lambda d: "គេហទំព័រ mef-home ត្រូវបានកែបំប្លែង" in d.find_element(By.CSS_SELECTOR, "[data-live]").text,
         20)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "console-incidents-km.png"))


def test_cross_site_form_post_is_refused(collector, incidents, browser, attacker_site):
    pages, evil = attacker_site
    fim = incidents["fim"]
    pages["/"] = (f'<form id="f" method="post" action="{collector.url}/incidents/{fim}/acknowledge">'
                  '<input name="csrf" value="guessed"></form><script>document.getElementById("f").submit()</script>'
                  ).encode()
    browser.get(f"{collector.url}/setup")
    fill(browser, token=collector.admin_token, username="ana", password=ADMIN_PASSWORD, password2=ADMIN_PASSWORD)
    submit(browser, 'form[action="/setup"]')
    browser.get(f"{evil}/")
    wait(browser, lambda d: d.current_url.startswith(collector.url))
    wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, "section.error")))
    assert "another site" in browser.find_element(By.CSS_SELECTOR, "section.error").text
    assert status_of(collector, fim) == "open"


def test_viewer_cannot_acknowledge_and_no_session_is_refused(collector, incidents, browser):
    url, fim = collector.url, incidents["fim"]
    browser.get(f"{url}/setup")
    fill(browser, token=collector.admin_token, username="ana", password=ADMIN_PASSWORD, password2=ADMIN_PASSWORD)
    submit(browser, 'form[action="/setup"]')
    browser.get(f"{url}/users")
    fill(browser, username="vic", password=VIEWER_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, 'select[name="role"] option[value="viewer"]').click()
    submit(browser, 'form[action="/users"]')
    submit(browser, 'form[action="/logout"]')
    log_in(browser, url, "vic", VIEWER_PASSWORD)
    browser.get(f"{url}/incidents/{fim}")
    assert "/var/www/html/index.php" in browser.find_element(By.CSS_SELECTOR, ".fim").text
    assert not browser.find_elements(By.CSS_SELECTOR, f'form[action="/incidents/{fim}/acknowledge"]')
    assert "viewer role" in browser.find_element(By.CSS_SELECTOR, ".actions").text
    forced = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const token = document.querySelector('input[name=csrf]').value;"
        f"fetch('/api/v1/incidents/{fim}/acknowledge', {{method: 'POST', headers: {{'X-CSRF-Token': token}}}})"
        ".then(r => done(r.status));")
    assert forced == 403 and status_of(collector, fim) == "open"
    browser.delete_all_cookies()
    browser.get(f"{url}/incidents/{fim}")
    assert "/login" in browser.current_url and "/var/www/html" not in browser.page_source
    anonymous = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/v1/incidents', {credentials: 'omit'}).then(r => done(r.status));")
    assert anonymous == 401
