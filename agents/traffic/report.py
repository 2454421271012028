"""How a detector's verdict becomes an anomaly: the one place every detector reports through.

Kept apart from the detectors so that none of them imports another (engine -> detectors/* -> report, no
circle): a detector hands its feature record and evidence here, the rule decides, the allow
list is applied, and the tracker opens or extends the anomaly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .packets import addr_text
from .tracker import Anomaly

if TYPE_CHECKING:
    from .engine import Engine
    from .table import EngineView


def report(engine: Engine, kind: str, now: float, src: str, dst: str, features: dict[str, Any],
           evidence: dict[str, Any], start: float | None = None, key: tuple | None = None) -> None:
    """If the rule says yes and the source is not allowed, open or extend the anomaly."""
    rule = engine.rules.get(kind)
    if rule is None or not rule.decide(features) or rule.allowed(src):
        return
    begin = now - 1.0 if start is None else min(start, now)
    begin = max(begin, engine.first_ts or begin)
    evidence = {**evidence, "duration_s": round(now - begin, 3)}

    def build() -> Anomaly:
        anomaly = Anomaly(kind, src, dst, begin, now, rule.rule.severity, evidence)
        anomaly.summary = rule.rule.render({"src": src, "dst": dst, "kind": kind, "evidence": evidence})
        return anomaly

    engine.tracker.seen(key or (kind, src, dst), now, rule.params["quiet"], build, evidence)


def home_text(engine: EngineView) -> str:
    """The protected address, for detectors whose victim is "the server"; "many" for several."""
    return addr_text(next(iter(engine.home))) if len(engine.home) == 1 else "many"
