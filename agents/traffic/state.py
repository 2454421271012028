"""Bounded state and learned baselines: nothing a packet source controls may grow memory without limit.

A spoofed flood from 40,000 addresses creates 40,000 "sources"; every per-source table here has a cap
and evicts its oldest entry (and counts the eviction) rather than grow.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict
from typing import Any


class BoundedTable(OrderedDict):
    """An insertion/recency-ordered dict with a size cap; the oldest entries go first when full."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap
        self.evicted = 0

    def put(self, key: Any, value: Any) -> Any:
        """Insert `value` (evicting the oldest entry if full) and return it."""
        if len(self) >= self.cap:
            self.popitem(last=False)
            self.evicted += 1
        self[key] = value
        return value

    def expire(self, older_than: float, stamp_index: int) -> int:
        """Drop entries whose value[stamp_index] (last seen) is older than `older_than`; oldest-first walk."""
        dropped = 0
        while self:
            key, value = next(iter(self.items()))
            if value[stamp_index] >= older_than:
                break
            del self[key]
            dropped += 1
        return dropped


def top(counts: dict[Any, float], n: int = 5) -> list[tuple[Any, float]]:
    """The n largest (key, count) pairs."""
    return heapq.nlargest(n, counts.items(), key=lambda kv: kv[1])


class Ewma:
    """Exponentially weighted mean and variance of a rate, learned only from normal periods."""

    def __init__(self, alpha: float, mean: float = 0.0, var: float = 0.0) -> None:
        self.alpha, self.mean, self.var, self.samples = alpha, mean, var, 0

    def update(self, value: float) -> None:
        if self.samples == 0 and self.mean == 0.0:
            self.mean = value
        diff = value - self.mean
        incr = self.alpha * diff
        self.mean += incr
        self.var = (1 - self.alpha) * (self.var + diff * incr)
        self.samples += 1

    @property
    def std(self) -> float:
        return math.sqrt(max(self.var, 0.0))

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "samples": self.samples}


class Cusum:
    """One-sided CUSUM of a rate against a learned baseline (Page's test): sums excess over mean + slack.

    The baseline is only learned while the statistic is at rest, so a long attack cannot teach the
    detector that the attack is normal.
    """

    def __init__(self, alpha: float, initial_mean: float, slack_ratio: float, slack_min: float) -> None:
        self.base = Ewma(alpha, initial_mean)
        self.slack_ratio, self.slack_min = slack_ratio, slack_min
        self.stat = 0.0

    def update(self, value: float) -> float:
        slack = max(self.slack_min, self.slack_ratio * self.base.mean, 2 * self.base.std)
        self.stat = max(0.0, self.stat + value - self.base.mean - slack)
        if self.stat == 0.0:
            self.base.update(value)
        return self.stat


class Seasonal:
    """Per-hour-of-week baselines (mean/variance of a rate), falling back to a global EWMA when an hour
    has not been seen enough; persisted by the live watcher so restarts keep what was learned."""

    SLOTS = 168

    def __init__(self, alpha: float, min_samples: int) -> None:
        self.alpha, self.min_samples = alpha, min_samples
        self.global_ = Ewma(alpha)
        self.slots: dict[int, Ewma] = {}

    @staticmethod
    def slot(ts: float) -> int:
        # 1970-01-01 was a Thursday; shift so slot 0 is Monday 00:00 UTC.
        return int((ts // 3600 + 72) % Seasonal.SLOTS)

    def baseline(self, ts: float) -> Ewma:
        slot = self.slots.get(self.slot(ts))
        return slot if slot is not None and slot.samples >= self.min_samples else self.global_

    def update(self, ts: float, value: float) -> None:
        self.global_.update(value)
        self.slots.setdefault(self.slot(ts), Ewma(self.alpha)).update(value)

    def to_dict(self) -> dict[str, Any]:
        return {"global": self.global_.to_dict(), "slots": {str(k): v.to_dict() for k, v in self.slots.items()}}

    def load(self, data: dict[str, Any]) -> None:
        def restore(raw: dict[str, Any]) -> Ewma:
            ewma = Ewma(self.alpha, float(raw.get("mean", 0.0)), float(raw.get("var", 0.0)))
            ewma.samples = int(raw.get("samples", 0))
            return ewma

        self.global_ = restore(data.get("global", {}))
        self.slots = {int(k): restore(v) for k, v in data.get("slots", {}).items()}
