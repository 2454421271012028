"""Agent clocks: measured at every batch, corrected when wrong, never a reason to refuse events.

An agent reset to 1999 used to have every event dead-lettered (its `ts` failed the range check). Now the
skew is measured per batch - exactly when the agent says when it sent (`sent_at` in the body or the
`X-Govwatch-Sent-At` header), else estimated from the newest event (only when that is plainly wrong: in
the future, or before 2020, since a backlog of old events is not skew) - exported as
`govwatch_agent_clock_skew_seconds`, and events of a skewed batch (or with an impossible time) are stored
with the receive time, their own time kept in `data.clock_skew` for the analyst.
"""

from __future__ import annotations

from typing import Any

from govwatch.collector.badrows import number

PLAUSIBLE_SINCE = 1577836800.0   # 2020-01-01: no govwatch event is older; an earlier time is a wrong clock


def sent_at(body: Any, header: str) -> float | None:
    """When the agent says it sent the batch (body `sent_at` wins over the header), if it says so."""
    value = number(body.get("sent_at")) if isinstance(body, dict) else None
    if value is None and header:
        try:
            value = number(float(header.strip()))
        except ValueError:
            value = None
    return value


def measure(events: list[dict[str, Any]], claimed: float | None, now: float, tolerance: float) -> float | None:
    """Agent clock minus collector clock for this batch, or None when the batch cannot tell."""
    if claimed is not None:
        return claimed - now
    if not events:
        return None
    newest = max(e["ts"] for e in events)
    if newest > now + tolerance or newest < PLAUSIBLE_SINCE:
        return newest - now
    if abs(newest - now) <= tolerance:
        return newest - now
    return None  # older events only: a backlog being drained, not evidence of skew


def correct(events: list[dict[str, Any]], skew: float | None, now: float, tolerance: float) -> int:
    """Give skewed events the receive time, keeping theirs in data.clock_skew; return how many."""
    skewed_batch = skew is not None and abs(skew) > tolerance
    changed = 0
    for event in events:
        ts = event["ts"]
        if skewed_batch or ts > now + tolerance or ts < PLAUSIBLE_SINCE:
            event["data"] = {**event["data"], "clock_skew": {"agent_ts": ts, "skew_seconds": round(
                skew if skewed_batch and skew is not None else ts - now, 3)}}
            event["ts"] = now
            changed += 1
    return changed
