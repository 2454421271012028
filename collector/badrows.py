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


def evidence(text: Any, agent: Any = "") -> dict[str, Any]:
    """An incident's stored evidence JSON as a dict of lists of dicts; anything else is skipped and counted."""
    import json

    try:
        value = json.loads(text or "{}")
    except (ValueError, TypeError):
        value = None
    if not isinstance(value, dict):
        note(agent, "evidence", str(text)[:80])
        return {}
    out: dict[str, Any] = {}
    for section, items in value.items():
        if not isinstance(items, list):
            note(agent, "evidence", section)
            continue
        good = [item for item in items if isinstance(item, dict)]
        if len(good) != len(items):
            note(agent, "evidence", section)
        out[section] = good
    return out


def agent_status(row: Any) -> dict[str, Any]:
    """The agent's last heartbeat data as a dict ({} and counted when the stored text is not one)."""
    import json

    try:
        status = json.loads(row["status"] or "{}")
    except (ValueError, TypeError):
        status = None
    if not isinstance(status, dict):
        note(row["name"], "agent_status", str(row["status"])[:80])
        return {}
    return status


def figure(value: Any) -> int | float | None:
    """`value` unchanged when it is a finite int or float (for display), else None."""
    return value if number(value) is not None else None
