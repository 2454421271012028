"""The shape a newcomer extends: one detector module beside one rule, no detector importing the engine
or another detector, hooks bound only where a detector defines them, and a new detector found by name."""

from __future__ import annotations

import ast
import os
from typing import Any

from traffic_frames import SERVER, tcp

from govwatch.agents.traffic import detectors
from govwatch.agents.traffic import rules as traffic_rules
from govwatch.agents.traffic.engine import Engine, _ignore
from govwatch.agents.traffic.packets import decode_raw
from govwatch.agents.traffic.table import REGISTRY, Detector, SecondTable
from govwatch.rules import Rule

HERE = os.path.dirname(os.path.abspath(__file__))
DETECTORS = os.path.dirname(detectors.__file__)
RULES = os.path.join(HERE, "..", "..", "rules", "traffic")


def test_every_kind_is_one_module_beside_one_rule() -> None:
    for kind in traffic_rules.KINDS:
        assert os.path.exists(os.path.join(DETECTORS, f"{kind}.py")), kind
        assert os.path.exists(os.path.join(RULES, f"traffic_{kind}.yml")), kind


def test_no_detector_imports_the_engine_or_another_detector() -> None:
    modules = {name[:-3] for name in os.listdir(DETECTORS) if name.endswith(".py")} - {"__init__"}
    for name in modules:
        tree = ast.parse(open(os.path.join(DETECTORS, f"{name}.py"), encoding="utf-8").read())
        imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        for module in imported:
            leaf = module.rsplit(".", 1)[-1]
            assert leaf not in {"engine", "contacts", "fastpath", "watcher"} | modules, f"{name} imports {module}"


def test_hooks_are_bound_only_to_detectors_that_define_them() -> None:
    loaded = traffic_rules.load()
    only_floods = {k: loaded[k] for k in ("tcp_flood", "syn_flood")}
    engine = Engine(only_floods, {SERVER}, lambda *_a: None)
    assert engine.on_contact is _ignore and engine.on_http_request is _ignore and engine.auth_ports == set()
    engine = Engine(loaded, {SERVER}, lambda *_a: None)
    assert engine.on_contact == engine.detector("port_scan").contact
    assert engine.auth_ports == set(loaded["brute_force"].params["ports"])


class Knock(Detector):
    """A toy detector as a newcomer would write it: SYNs to port 7 from one source, judged once a second."""

    kind = "knock"
    PARAMS = {"min_knocks": 3, "quiet": 5.0}

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        return f.get("knocks", 0) >= p["min_knocks"]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.knocks: dict[Any, int] = {}

    def contact(self, ts: float, src: Any, dst: Any, port: int, failed_now: bool, probe: int) -> None:
        if port == 7:
            self.knocks[src] = self.knocks.get(src, 0) + 1

    def second(self, now: float, table: SecondTable) -> None:
        for src, n in self.knocks.items():
            self.report(self.kind, now, str(src), SERVER, {"knocks": n}, {"knocks": n})


def test_a_new_detector_is_found_by_name_and_reports(monkeypatch) -> None:
    monkeypatch.setitem(REGISTRY, "knock", Knock)
    monkeypatch.setitem(traffic_rules.DECIDE, "knock", Knock.decide)
    rule = traffic_rules.TrafficRule("knock", dict(Knock.PARAMS), Rule(
        id="knock", title="knock", severity="low", status="test", source="traffic", file="<test>", line=0,
        raw={"detector": "knock"}))
    found: list[str] = []
    engine = Engine({"knock": rule}, {SERVER}, lambda state, a: found.append(a.kind) if state == "start" else None)
    for n in range(5):
        frame = tcp("198.51.100.4", SERVER, 40000 + n, 7, "S")
        engine.packet(1_700_000_000.0 + n * 0.1, frame, *decode_raw(frame, 1))
    engine.finish()
    assert found == ["knock"]
