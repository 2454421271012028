"""Stored rows a reader could not use: skipped (the page or scrape goes on) and counted per agent.

The store only holds validated events since event declarations exist, but older rows, a hand-edited store
or a bug may still hold a string where a number belongs. `/metrics` and the console skip such a row and
count it here; `/metrics` exports the counts as `govwatch_bad_rows_skipped_total{agent, where}`.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

log = logging.getLogger("govwatch.collector.badrows")
_counts: dict[tuple[str, str], int] = {}
_lock = threading.Lock()
MAX_KEYS = 1000


def note(agent: Any, where: str, detail: Any = "") -> None:
    """Count one skipped row (agent '' when the row belongs to none); logged once per (agent, where)."""
    key = (str(agent or "")[:63], where)
    with _lock:
        if key not in _counts and len(_counts) >= MAX_KEYS:
            key = ("", where)
        first = key not in _counts
        _counts[key] = _counts.get(key, 0) + 1
    if first:
        log.warning("skipped a stored %s row of agent %r that does not have the expected shape: %s", where,
                    key[0], str(detail)[:200])


def counts() -> dict[tuple[str, str], int]:
    with _lock:
        return dict(_counts)


def number(value: Any) -> float | None:
    """`value` as a finite float, or None (a bool, a string or NaN is not a measurement)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None
