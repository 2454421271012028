"""Findings and their lifecycle, plus the bounded per-key tables every detector keeps its state in.

A finding opens the first time its rule says yes, is extended while hits keep coming and closes after the
rule's `quiet` seconds without one (log time, so offline analysis and the live watcher agree). Evidence
keeps a bounded sample of the lines behind it; live, an `update` carries only the sample gathered since the
previous event, so an incident collects each request once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_SAMPLE = 10


@dataclass
class Finding:
    """One open or closed finding: the contract's `{kind, start, end, src, evidence}` line."""

    kind: str
    src: str
    start: float
    end: float
    severity: str
    quiet: float
    evidence: dict[str, Any] = field(default_factory=dict)
    sample: list[dict[str, Any]] = field(default_factory=list)
    fresh: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0
    last_emit: float = 0.0
    summary: str = ""

    def add(self, ts: float, evidence: dict[str, Any], item: dict[str, Any] | None) -> None:
        self.end = max(self.end, ts)
        self.hits += 1
        self.evidence.update(evidence)
        if item is not None:
            if len(self.sample) < MAX_SAMPLE:
                self.sample.append(item)
            if len(self.fresh) < MAX_SAMPLE:
                self.fresh.append(item)

    def record(self, fresh_only: bool = False) -> dict[str, Any]:
        evidence = dict(self.evidence)
        evidence["sample"] = list(self.fresh if fresh_only else self.sample)
        evidence["hits"] = self.hits
        return {"kind": self.kind, "start": round(self.start, 3), "end": round(self.end, 3), "src": self.src,
                "evidence": evidence}


Listener = Callable[[str, Finding], None]   # ("start" | "update" | "end", finding)


class Findings:
    """Open findings by key; `update_every` (live) sends new evidence while a finding lasts."""

    def __init__(self, listener: Listener, update_every: float | None = None, max_open: int = 1000) -> None:
        self.listener = listener
        self.update_every = update_every
        self.max_open = max_open
        self.open: dict[tuple[str, str], Finding] = {}
        self.total = 0
        self.suppressed = 0

    def hit(self, key: tuple[str, str], ts: float, build: Callable[[], Finding], evidence: dict[str, Any],
            item: dict[str, Any] | None) -> None:
        """A rule matched for `key` at log time `ts`."""
        finding = self.open.get(key)
        if finding is None:
            if len(self.open) >= self.max_open:
                self.suppressed += 1
                return
            finding = build()
            finding.add(ts, evidence, item)
            self.open[key] = finding
            self.total += 1
            self._emit("start", finding, ts)
            return
        finding.add(ts, evidence, item)

    def is_open(self, key: tuple[str, str]) -> bool:
        return key in self.open

    def _emit(self, state: str, finding: Finding, now: float) -> None:
        finding.last_emit = now
        self.listener(state, finding)
        finding.fresh = []

    def tick(self, now: float) -> None:
        """Close findings quiet for their rule's period; live, send updates that are due."""
        for key in [k for k, f in self.open.items() if now - f.end > f.quiet]:
            self._emit("end", self.open.pop(key), now)
        if self.update_every is None:
            return
        for finding in self.open.values():
            if finding.fresh and now - finding.last_emit >= self.update_every:
                self._emit("update", finding, now)

    def close_all(self) -> None:
        for key in list(self.open):
            finding = self.open.pop(key)
            self._emit("end", finding, finding.end)


class Table:
    """A dict bounded at `limit` keys: when full, entries older than `horizon` go; if none can, new keys
    are refused and counted (a spoofed sweep from 100,000 addresses is counted, not stored)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: dict[Any, list[Any]] = {}
        self.refused = 0
        self._no_purge_until = float("-inf")

    def get(self, key: Any, ts: float, horizon: float, make: Callable[[float], list[Any]]) -> list[Any] | None:
        entry = self.items.get(key)
        if entry is not None:
            if ts - entry[0] > horizon:     # the entry's window has passed: start it afresh
                entry[:] = make(ts)
            return entry
        if len(self.items) >= self.limit:
            if ts >= self._no_purge_until:   # one O(n) purge at most per tenth of the horizon: linear overall
                self.items = {k: v for k, v in self.items.items() if ts - v[0] <= horizon}
                self._no_purge_until = ts + horizon / 10
            if len(self.items) >= self.limit:
                self.refused += 1
                return None
        entry = make(ts)
        self.items[key] = entry
        return entry

    def __len__(self) -> int:
        return len(self.items)
