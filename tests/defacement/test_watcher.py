"""The agent's defacement watcher against a real local web server (127.0.0.1)."""

from __future__ import annotations

import json
import os
import queue
import time
from typing import Any

import pytest

from govwatch.agents.defacement.watcher import SCHEMA, factory
from govwatch.errors import ConfigError
from govwatch.events import Event
from govwatch.schema import validate

GOOD = ("<html><head><title>Ministry of Commerce</title></head><body><h1>Ministry of Commerce</h1>"
        "<ul><li><a href='/news/1.html'>Trade statistics 2026</a></li></ul><p>Phnom Penh</p></body></html>")
HACKED = ("<html><body bgcolor=black><center><h1><font color=red>Hacked by Cyb3r Gh0st Team</font></h1>"
          "<p>Your security is low.</p></center></body></html>")
SPAM = GOOD.replace("</body>", "<div style='display:none'><a href='https://gacor.example/'>slot gacor</a>"
                                "<a href='https://toto.example/'>togel online</a></div></body>")


def _section(url: str, **site: Any) -> dict[str, Any]:
    return validate({"sites": [{"name": "moc-home", "url": url, "interval": "200ms", **site}]}, SCHEMA, "agent.yml")


def _next(events: queue.Queue, timeout: float = 10.0) -> Event:
    return events.get(timeout=timeout)


@pytest.fixture
def run(tmp_path):
    started = []

    def start(section: dict[str, Any]) -> queue.Queue:
        watcher = factory(section, {"name": "web-01", "data_dir": str(tmp_path)})
        events: queue.Queue = queue.Queue()
        watcher.start(events.put)
        started.append(watcher)
        return events

    yield start
    for watcher in started:
        watcher.stop()


def test_defacement_then_recovery_are_reported_once_each(site, run) -> None:
    state, url = site
    state.page = GOOD
    events = run(_section(url, crawler_check=False))  # the crawler view has its own test; here only the browser's
    deadline = time.monotonic() + 20
    while len(state.user_agents) < 4 and time.monotonic() < deadline:
        assert events.empty()
        time.sleep(0.05)
    state.page = HACKED
    event = _next(events)
    assert event.kind == "defacement" and event.severity == "critical"
    assert event.data["state"] == "defaced" and event.data["view"] == "browser" and event.data["site"] == "moc-home"
    assert any("hacked by" in r for r in event.data["reasons"]) and "hacked by" in event.data["diff"].lower()
    state.page = GOOD
    event = _next(events)
    assert event.data["state"] == "clean" and event.severity == "info"
    assert all("Mozilla/5.0" in ua for ua in state.user_agents)


def test_cloaked_spam_served_only_to_crawlers(site, run) -> None:
    state, url = site
    state.page, state.crawler_page = GOOD, SPAM
    events = run(_section(url, crawler_every=1))
    event = _next(events)
    assert event.data["view"] == "crawler" and event.data["state"] == "defaced"
    assert {"gacor.example", "toto.example"} <= set(event.data["new_domains"])
    assert any("Googlebot" in ua for ua in state.user_agents)


def test_profile_survives_restart_and_rebaseline_command(site, run, tmp_path) -> None:
    state, url = site
    state.page = GOOD
    events = run(_section(url, learn_samples=2))
    saved = os.path.join(tmp_path, "defacement", "moc-home.json")

    deadline = time.monotonic() + 10
    while not os.path.exists(saved) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(saved)
    state.page = HACKED
    assert _next(events).data["state"] == "defaced"
    deadline = time.monotonic() + 10   # the event goes out first, then the state is saved: wait for it
    while _saved_state(saved) != "defaced" and time.monotonic() < deadline:
        time.sleep(0.05)
    watcher = factory(_section(url), {"data_dir": str(tmp_path)})
    restarted: queue.Queue = queue.Queue()
    watcher.start(restarted.put)
    try:
        watcher.loops[0].save()
        assert watcher.loops[0].browser.defaced   # restored state: no second "defaced" event
        watcher.command("rebaseline", "moc-home")
        event = restarted.get(timeout=5)
        assert event.data["state"] == "clean", event.data
        assert watcher.stats()["sites"] == 1
    finally:
        watcher.stop()


def _saved_state(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle).get("state")
    except (OSError, ValueError):
        return None


@pytest.mark.parametrize("sites, reason", [
    ([{"name": "a", "url": "http://x/", "intervall": "1s"}], "unknown key"),
    ([{"name": "a", "url": "ftp://x/"}], r"sites\[0\]\.url: must be an http\(s\) URL"),
    ([{"name": "a", "url": "http://x/"}, {"name": "a", "url": "http://y/"}], "site names must be unique"),
    ([{"name": "a", "url": "http://x/", "interval": "soon"}], "bad duration"),
    ([{"url": "http://x/"}], "is required"),
])
def test_config_errors_name_the_field(sites: list, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        validate({"sites": sites}, SCHEMA, "agent.yml")
