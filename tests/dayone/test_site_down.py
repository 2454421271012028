"""A site that stops answering is an incident with probe evidence, resolved when it answers again."""

from __future__ import annotations

import json
import time

from govwatch.collector.config import load_config
from govwatch.collector.console.fleet import sites_table
from govwatch.collector.outside import OutsideView, failed_phase
from govwatch.collector.probes import ProbeResult
from govwatch.collector.store import Store


def view(tmp_path):
    path = tmp_path / "collector.yml"
    path.write_text("listen: 127.0.0.1:0\ndata_dir: .\nsites:\n"
                    "  - {name: gone-site, url: 'http://127.0.0.1:9/', confirm_failures: 2}\n")
    cfg = load_config(str(path))
    (tmp_path / "admin-token").write_text("gwt_x")
    (tmp_path / "enroll-key").write_text("gwe_x")
    from govwatch.collector.config import db_path

    store = Store(db_path(cfg))
    return cfg, store, OutsideView(cfg, store)


def probe(ok: bool, ts: float) -> ProbeResult:
    if ok:
        return ProbeResult(url="http://127.0.0.1:9/", ts=ts, up=True, status=200, duration=0.01,
                           phases={"resolve": 0.0, "connect": 0.001, "processing": 0.005, "transfer": 0.001})
    return ProbeResult(url="http://127.0.0.1:9/", ts=ts, up=False, error="connect: Connection refused",
                       phases={"resolve": 0.0})


def feed(outside: OutsideView, site, ok: bool, ts: float) -> None:
    result = probe(ok, ts)
    change = outside.tracker.record(site, result)
    if change:
        outside.up_or_down(site, result, change)


def incidents(store: Store) -> list[dict]:
    return [dict(r) for r in store.query("SELECT * FROM incidents WHERE kind='site_down' ORDER BY id")]


def test_confirmed_downtime_opens_and_recovery_resolves(tmp_path):
    cfg, store, outside = view(tmp_path)
    site, start = cfg["sites"][0], time.time() - 100
    try:
        feed(outside, site, True, start)
        feed(outside, site, False, start + 10)
        assert incidents(store) == []  # one failure is not confirmed downtime
        feed(outside, site, False, start + 20)
        [inc] = incidents(store)
        assert (inc["site"], inc["status"], inc["severity"]) == ("gone-site", "open", "high")
        assert inc["title"] == "site gone-site is down (connect: Connection refused)"
        [evidence] = json.loads(inc["evidence"])["probes"]
        assert evidence["phase"] == "connect" and evidence["since"] == start + 10
        assert evidence["error"] == "connect: Connection refused"
        feed(outside, site, False, start + 30)
        assert len(incidents(store)) == 1  # still the same outage
        feed(outside, site, True, start + 40)
        [inc] = incidents(store)
        assert inc["status"] == "resolved" and inc["resolved_by"] == "recovered: the outside probe succeeded"
    finally:
        outside.stop()
        store.close()


def test_sites_page_shows_a_down_site_as_down_not_clean(tmp_path):
    from types import SimpleNamespace

    from govwatch.collector.console.i18n import words

    cfg, store, outside = view(tmp_path)
    site, start = cfg["sites"][0], time.time() - 100
    try:
        for i in range(3):
            feed(outside, site, False, start + i)
        html = str(sites_table(SimpleNamespace(store=store, cfg=cfg, tz=None),
                               SimpleNamespace(w=words("en"), lang="en")))
        assert 'st-down">down<' in html
        assert "clean" not in html and " ms" not in html
    finally:
        outside.stop()
        store.close()


def test_failed_phase_names_where_the_probe_stopped():
    assert failed_phase(probe(False, 1.0)) == "connect"
    assert failed_phase(ProbeResult(url="https://x/", ts=1.0, up=False, error="TLS: bad",
                                    phases={"resolve": 0.0, "connect": 0.0})) == "tls"
    assert failed_phase(ProbeResult(url="http://x/", ts=1.0, up=False, status=503)) == "status"
    assert failed_phase(probe(True, 1.0)) is None
