"""Fixtures: a real collector in this process, agents that post real events, and logged-in staff."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests
import yaml

from govwatch.collector.config import load_config
from govwatch.collector.init import init_collector
from govwatch.collector.service import Collector
from govwatch.events import Event

ADMIN_PASSWORD = "admin-password-123"
VIEWER_PASSWORD = "viewer-password-123"

DEFACEMENT_DIFF = """--- known-good
+++ now
@@ -1,4 +1,4 @@
 Ministry of Commerce
-Welcome to the official portal of the Ministry
-Latest news: export figures for October
+Hacked by Team Shadow
+Your security is a joke
 Contact us
@@ -9,2 +9,3 @@
 Phnom Penh
+[hidden] buy cheap pills at pharma.example
"""


def make_config(tmp_path: Path, store: str = "sqlite") -> Path:
    data_dir = tmp_path / "collector"
    init_collector(str(data_dir))
    path = data_dir / "collector.yml"
    cfg = yaml.safe_load(path.read_text())
    cfg.update({"listen": "127.0.0.1:0", "sites": [], "store": store})
    cfg.pop("tls", None)
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store_kind(request) -> str:
    """The console over the embedded SQLite store and over a fresh PostgreSQL database."""
    return "sqlite" if request.param == "sqlite" else request.getfixturevalue("pg_dsn")


@pytest.fixture
def collector(tmp_path, store_kind):
    running = Collector(load_config(str(make_config(tmp_path, store_kind))))
    running.start()
    yield running
    running.stop()


class Agent:
    """An enrolled agent posting real events through the ingest API."""

    def __init__(self, collector: Collector, name: str) -> None:
        key = Path(collector.cfg["enroll_key_file"]).read_text().strip()
        answer = requests.post(f"{collector.url}/api/v1/enroll", json={"name": name, "enroll_key": key}, timeout=10)
        assert answer.status_code == 201, answer.text
        self.url, self.name, self.token = collector.url, name, answer.json()["token"]

    def post(self, *events: Event) -> None:
        answer = requests.post(f"{self.url}/api/v1/events", json=[e.to_dict() for e in events],
                               headers={"Authorization": f"Bearer {self.token}"}, timeout=10)
        assert answer.status_code == 200 and answer.json()["accepted"] == len(events), answer.text


def defacement_event(site: str = "moc-home", title: str = "Hacked by Team Shadow") -> Event:
    return Event("defacement", {"site": site, "url": "http://127.0.0.1/", "state": "defaced", "view": "browser",
                                "score": 0.97, "reasons": [
                                    "signature: 'hacked by team shadow' (rule bd5f2000-76b2-4460-abb1-0b1e9b75952a: "
                                    "Defacement claim)", "new external script domain evil-cdn.example",
                                    "page text now says 'hacked by'"],
                                "new_domains": ["evil-cdn.example"], "diff": DEFACEMENT_DIFF, "title": title},
                 "critical", f"{site} defaced")


def fim_event(known_good: bool = True) -> Event:
    return Event("fim", {"path": "/var/www/html/index.php", "change": "modified", "root": "/var/www/html",
                         "before": None, "after": None, "old_path": None, "rules": ["fim-webroot-script-modified"],
                         "diff": "--- a\n+++ b\n@@ -1 +1 @@\n-<?php echo 'hello'; ?>\n+<?php eval($_POST['x']); ?>\n",
                         "known_good": known_good, "webshell_markers": ["eval($_POST"]},
                 "critical", "index.php modified in /var/www/html: eval of POST data")


def traffic_event() -> Event:
    now = time.time()
    evidence = {"syn_per_s": 5200, "peak_syn_per_s": 5200, "baseline_syn_per_s": 12.0, "half_open_ratio": 0.97,
                "sources": 3, "top_sources": [{"addr": "198.51.100.7", "packets": 4100},
                                              {"addr": "198.51.100.9", "packets": 900}],
                "top_ports": [{"port": 443, "syns": 5000}], "explanation": "5200 SYN/s to 10.0.0.5"}
    return Event("traffic", {"kind": "syn_flood", "state": "start", "src": "many", "dst": "10.0.0.5", "start": now,
                             "end": now, "evidence": evidence}, "high", "SYN flood against 10.0.0.5")


@pytest.fixture
def incidents(collector):
    """One real incident of each kind, posted by three agents; returns {kind: id}."""
    Agent(collector, "web-01").post(defacement_event())
    Agent(collector, "web-02").post(fim_event())
    Agent(collector, "web-03").post(traffic_event())
    rows = collector.store.query("SELECT id, kind FROM incidents")
    found = {r["kind"]: r["id"] for r in rows}
    assert set(found) == {"defacement", "fim", "traffic"}, found
    return found


def csrf_in(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF field on the page"
    return match.group(1)


def setup_admin(collector, name: str = "ana") -> requests.Session:
    browser = requests.Session()
    pre = csrf_in(browser.get(f"{collector.url}/setup", timeout=10).text)
    answer = browser.post(f"{collector.url}/setup", timeout=10, data={
        "csrf": pre, "token": collector.admin_token, "username": name, "password": ADMIN_PASSWORD,
        "password2": ADMIN_PASSWORD})
    assert answer.status_code == 200 and answer.url.rstrip("/") == collector.url, answer.text[:500]
    return browser


def login(collector, name: str, password: str) -> requests.Session:
    browser = requests.Session()
    pre = csrf_in(browser.get(f"{collector.url}/login", timeout=10).text)
    answer = browser.post(f"{collector.url}/login", data={"csrf": pre, "username": name, "password": password},
                          timeout=10)
    assert answer.status_code == 200, answer.text[:500]
    return browser


@pytest.fixture
def admin(collector):
    return setup_admin(collector)


@pytest.fixture
def viewer(collector, admin):
    page = admin.get(f"{collector.url}/users", timeout=10).text
    answer = admin.post(f"{collector.url}/users", timeout=10, data={
        "csrf": csrf_in(page), "username": "vic", "role": "viewer", "password": VIEWER_PASSWORD})
    assert answer.status_code == 200, answer.text[:500]
    return login(collector, "vic", VIEWER_PASSWORD)


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium through Selenium (the browser tests skip before asking for it when it is missing)."""
    from selenium import webdriver

    from .test_browser import CHROMIUM, DRIVER

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
