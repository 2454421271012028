"""E2E: one site whose page stalls the detector among healthy ones; the healthy keep their poll interval.

The stall is real: the watcher runs with a rules folder holding a catastrophic regex that only the hostile
page triggers (the shipped parser no longer backtracks, so a runaway rule is how a page stalls today). Each
judgment of that page is stopped at the budget in its worker process and reported; the other sites' threads
never wait for it.
"""

from __future__ import annotations

import shutil
import statistics
import time

import pytest
from deface_testlib import RULES_DIR, RUNAWAY, serve_sites

from govwatch.agents.defacement import bounded
from govwatch.agents.defacement.watcher import SCHEMA, factory
from govwatch.schema import validate


@pytest.fixture
def server():
    yield from serve_sites()


@pytest.mark.slow
def test_healthy_sites_keep_their_interval_while_a_hostile_page_is_stopped(server, tmp_path, monkeypatch) -> None:
    base, hits = server
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    (rules / "runaway.yml").write_text(RUNAWAY)
    monkeypatch.setattr(bounded, "BUDGET", 3.0)
    sites = [{"name": name, "url": f"{base}/{path}", "interval": "300ms", "crawler_check": False}
             for name, path in (("healthy-a", "a"), ("healthy-b", "b"), ("hostile", "h"))]
    section = validate({"sites": sites, "rules": str(rules)}, SCHEMA, "agent.yml")
    watcher = factory(section, {"name": "web-01", "data_dir": str(tmp_path / "data")})
    events: list = []
    watcher.start(events.append)
    try:
        deadline = time.monotonic() + 180
        while watcher.pool.stopped < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watcher.pool.stopped >= 3, "the hostile page was never stopped at the budget"
    finally:
        watcher.stop()
    hostile_polls = len(hits["/h"])
    for path in ("/a", "/b"):
        times = hits[path]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert len(times) >= 3 * hostile_polls, (path, len(times), hostile_polls)
        assert statistics.median(gaps) < bounded.BUDGET / 2, (path, statistics.median(gaps))
    stalled = [e for e in events if e.data["site"] == "hostile"]
    assert stalled and "budget" in stalled[0].data["reasons"][0]
    assert not [e for e in events if e.data["site"] != "hostile"]
