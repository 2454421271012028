"""SiteMonitor: learning from first fetches, first-sight defacement, hysteresis, rebaseline, persistence."""

from __future__ import annotations

import json
import random

from deface_testlib import corpus_root, read

from govwatch.agents.defacement.monitor import SiteMonitor
from govwatch.agents.defacement.synth import inject, render

PAGE = read(f"{corpus_root()}/legit/pariwisata.padang.go.id_profil.v1.html")
DEFACED = "<html><body bgcolor=black><h1>Hacked by Cyb3r Gh0st Team</h1><p>Greetz: all members</p></body></html>"


def _learned(samples: int = 3) -> tuple[SiteMonitor, random.Random]:
    rng = random.Random(7)
    monitor = SiteMonitor("moc", "http://127.0.0.1/", learn_samples=samples)
    for i in range(samples):
        assert monitor.observe(render(PAGE, rng), 200, float(i)) is None
    assert monitor.state()["state"] == "clean"
    return monitor, rng


def test_learns_from_first_fetches_then_reports_a_defacement_once() -> None:
    monitor, rng = _learned()
    change = monitor.observe(DEFACED, 200, 10.0)
    assert change is not None and change.state == "defaced" and change.severity == "critical"
    data = change.to_event_data()
    assert data["view"] == "browser" and data["site"] == "moc" and data["score"] >= 0.9
    assert any("hacked by" in r for r in data["reasons"]) and data["diff"]
    assert monitor.observe(DEFACED, 200, 11.0) is None          # still defaced: no repeat
    assert monitor.observe(render(PAGE, rng), 200, 12.0) is None  # one clean fetch is not enough
    change = monitor.observe(render(PAGE, rng), 200, 13.0)
    assert change is not None and change.state == "clean" and change.severity == "info"


def test_a_page_defaced_at_first_sight_is_caught_and_never_learned() -> None:
    monitor = SiteMonitor("moc", "http://127.0.0.1/", learn_samples=2)
    change = monitor.observe(DEFACED, 200, 0.0)
    assert change is not None and change.state == "defaced"
    assert monitor.profile is None and monitor.samples == []


def test_weaker_verdicts_need_two_in_a_row() -> None:
    monitor, rng = _learned()
    attacked = inject(render(PAGE, rng), "external_script", rng)
    assert monitor.observe(attacked, 200, 20.0) is None
    change = monitor.observe(attacked, 200, 21.0)
    assert change is not None and change.state == "defaced"


def test_errors_are_not_judged() -> None:
    monitor, _ = _learned()
    assert monitor.observe("<h1>Hacked by X</h1>", 503, 30.0) is None
    assert monitor.state()["state"] == "clean"


def test_rebaseline_accepts_a_redesign() -> None:
    monitor, rng = _learned()
    redesign = read(f"{corpus_root()}/legit/alphagov.github.io_index.v4.html")
    monitor.observe(redesign, 200, 40.0)
    monitor.observe(redesign, 200, 41.0)
    assert monitor.defaced
    change = monitor.rebaseline()
    assert change is not None and change.state == "clean" and not monitor.defaced
    assert monitor.observe(redesign, 200, 42.0) is None and not monitor.defaced


def test_state_survives_a_restart_through_json() -> None:
    monitor, rng = _learned()
    monitor.observe(DEFACED, 200, 50.0)
    saved = json.loads(json.dumps(monitor.to_dict()))
    again = SiteMonitor.from_dict(saved)
    assert again.defaced and again.profile is not None and again.profile.learned
    assert again.observe(DEFACED, 200, 51.0) is None
    again.observe(render(PAGE, rng), 200, 52.0)
    assert again.observe(render(PAGE, rng), 200, 53.0).state == "clean"
