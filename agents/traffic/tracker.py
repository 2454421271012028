"""Anomaly lifecycle: a detector's verdicts, second by second, become one start and one end per anomaly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Anomaly:
    """One open or closed anomaly; `evidence` keeps the latest explanation and the peak figures."""

    kind: str
    src: str
    dst: str
    start: float
    end: float
    severity: str
    evidence: dict[str, Any] = field(default_factory=dict)
    summary: str = ""

    def record(self) -> dict[str, Any]:
        """The contract's line: {"kind", "start", "end", "src", "dst", "evidence"}."""
        return {"kind": self.kind, "start": round(self.start, 6), "end": round(self.end, 6), "src": self.src,
                "dst": self.dst, "evidence": self.evidence}


Listener = Callable[[str, Anomaly], None]   # ("start" | "end", anomaly)


class Tracker:
    """Opens an anomaly the first second a detector says yes; closes it after `quiet` seconds of no."""

    def __init__(self, listener: Listener, max_open: int = 1000) -> None:
        self.listener = listener
        self.open: dict[tuple, tuple[Anomaly, float]] = {}   # key -> (anomaly, quiet seconds)
        self.max_open = max_open
        self.suppressed = 0
        self.total = 0

    def seen(self, key: tuple, now: float, quiet: float, build: Callable[[], Anomaly],
             evidence: dict[str, Any]) -> None:
        """A detector matched `key` during the second ending at `now`."""
        current = self.open.get(key)
        if current is None:
            if len(self.open) >= self.max_open:
                self.suppressed += 1
                return
            anomaly = build()
            self.open[key] = (anomaly, quiet)
            self.total += 1
            self.listener("start", anomaly)
            return
        anomaly = current[0]
        anomaly.end = now
        anomaly.evidence = _merge(anomaly.evidence, evidence)

    def sweep(self, now: float) -> None:
        """Close every anomaly not seen for its quiet period."""
        for key in [k for k, (a, quiet) in self.open.items() if now - a.end > quiet]:
            self.listener("end", self.open.pop(key)[0])

    def close_all(self) -> None:
        """End of input (capture file done, watcher stopping): close what is open."""
        for key in list(self.open):
            self.listener("end", self.open.pop(key)[0])

    def active_kinds(self) -> list[str]:
        return sorted({a.kind for a, _q in self.open.values()})


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Latest evidence wins, but numeric `peak_*` and totals keep their maximum."""
    merged = dict(new)
    for key, value in old.items():
        if key.startswith(("peak_", "total_", "max_")) and isinstance(value, int | float) \
                and isinstance(merged.get(key), int | float):
            merged[key] = max(value, merged[key])
        elif key not in merged:
            merged[key] = value
    merged["duration_s"] = merged.get("duration_s", old.get("duration_s", 0))
    return merged
