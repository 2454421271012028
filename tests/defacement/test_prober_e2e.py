"""E2E: the collector's outside prober keeps every healthy site's probe interval while it judges a page
that stalls the detector (each judgment of it stopped at the budget in its worker process)."""

from __future__ import annotations

import functools
import shutil
import statistics
import time

import pytest
import yaml
from deface_testlib import RULES_DIR, RUNAWAY, serve_sites

from govwatch.agents.defacement import bounded
from govwatch.collector.config import load_config
from govwatch.collector.init import init_collector
from govwatch.collector.service import Collector


@pytest.fixture
def server():
    yield from serve_sites()


@pytest.mark.slow
def test_prober_keeps_healthy_intervals_while_a_hostile_page_is_stopped(server, tmp_path, monkeypatch) -> None:
    base, hits = server
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    (rules / "runaway.yml").write_text(RUNAWAY)
    monkeypatch.setattr(bounded, "BUDGET", 3.0)
    monkeypatch.setattr(bounded, "Pool", functools.partial(bounded.Pool, rules_dir=str(rules)))
    data_dir = tmp_path / "collector"
    init_collector(str(data_dir))
    path = data_dir / "collector.yml"
    cfg = yaml.safe_load(path.read_text())
    cfg.pop("tls", None)
    cfg["render"] = {"enabled": False}   # the static prober alone: a render would fetch /h too
    cfg.update({"listen": "127.0.0.1:0", "sites": [
        {"name": name, "url": f"{base}/{p}", "interval": "1s", "ministry": "MoC"}
        for name, p in (("healthy-a", "a"), ("healthy-b", "b"), ("hostile", "h"))]})
    path.write_text(yaml.safe_dump(cfg))
    collector = Collector(load_config(str(path)))
    collector.start()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            pool = collector.outside._pool
            if pool is not None and pool.stopped >= 3:
                break
            time.sleep(0.1)
        assert collector.outside._pool is not None and collector.outside._pool.stopped >= 3
    finally:
        collector.stop()
    for site in ("/a", "/b"):
        gaps = [b - a for a, b in zip(hits[site], hits[site][1:], strict=False)]
        assert len(hits[site]) >= 2 * len(hits["/h"]), (site, len(hits[site]), len(hits["/h"]))
        assert statistics.median(gaps) < 2.0, (site, statistics.median(gaps))   # interval 1 s, jitter 10%
