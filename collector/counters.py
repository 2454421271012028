"""Monotonic counters kept in the store, moved in the same transaction as the rows they count.

A batch of changes is first gathered in a dict ((metric name, label key) -> increment) and written with one
upsert per key, so a counter and the events behind it can never disagree after a crash.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

Counts = dict[tuple[str, str], float]


_KEYS: dict[tuple[tuple[str, Any], ...], str] = {}  # labels as passed -> key: ingest bumps per event
_KEYS_MAX = 10_000


def labels_key(**labels: Any) -> str:
    """Canonical text form of a label set, the counters table's key."""
    try:
        asked = tuple(labels.items())
        key = _KEYS.get(asked)
    except TypeError:  # a value that cannot be hashed: build the key without the cache
        asked, key = None, None
    if key is None:
        key = json.dumps({k: str(v) for k, v in sorted(labels.items())}, separators=(",", ":"), ensure_ascii=False)
        if asked is not None and len(_KEYS) < _KEYS_MAX:
            _KEYS[asked] = key
    return key


def bump(counts: Counts, name: str, value: float = 1.0, **labels: Any) -> None:
    """Add `value` to counter `name{labels}` in the pending batch."""
    key = (name, labels_key(**labels))
    counts[key] = counts.get(key, 0.0) + value


def add_counters(conn: sqlite3.Connection, counts: Counts) -> None:
    """Write a pending batch of increments (inside the caller's transaction)."""
    conn.executemany("INSERT INTO counters(name, labels, value) VALUES (?,?,?) "
                     "ON CONFLICT(name, labels) DO UPDATE SET value = counters.value + excluded.value",
                     [(name, labels, value) for (name, labels), value in counts.items()])
