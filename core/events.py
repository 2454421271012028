"""The event model shared by agents and collector: one frozen record per thing that happened.

Every event carries its own id (chosen by the agent, so a retried batch is recognised), a kind (which
watcher family), a severity and a kind-specific `data` mapping. The collector adds the agent's identity
from the credential, never from the body.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from govwatch import event_specs  # registers every declared kind
from govwatch.event_kinds import REGISTRY, EventError, printable, validate

__all__ = ["EventError", "Event", "check_event", "new_id", "max_severity", "KINDS", "FIM_CHANGES", "SEVERITIES"]

SEVERITIES = ("info", "low", "medium", "high", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

# Every kind, its fields, types and bounds: declared once in event_specs (mechanism in event_kinds).
KINDS = REGISTRY  # kind -> declaration (its .doc says what it reports); the collector refuses any other kind
FIM_CHANGES = event_specs.FIM_CHANGES
_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,80}$")
MAX_SUMMARY = 500
MAX_TS = 2**33  # year 2242: beyond it a float time is nonsense, not skew


def new_id() -> str:
    """Time-ordered unique id: sortable by creation, unguessable by another agent."""
    return f"{time.time_ns():x}-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class Event:
    """One thing an agent saw."""

    kind: str
    data: dict[str, Any]
    severity: str = "info"
    summary: str = ""
    ts: float = field(default_factory=time.time)
    id: str = field(default_factory=new_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_event(raw: Any, index: int) -> dict[str, Any]:
    """Validate one posted event and return it normalised, or raise EventError `events[i].field: why`.

    `ts` may be any finite time: an agent with a wrong clock is measured and corrected by the collector
    (events stored with the receive time and flagged), never refused for it."""
    where = f"events[{index}]"
    if not isinstance(raw, dict):
        raise EventError(f"{where}: must be an object")
    unknown = set(raw) - {"id", "kind", "data", "severity", "summary", "ts", "agent"}
    if unknown:
        raise EventError(f"{where}.{str(sorted(map(str, unknown))[0])[:64]}: unknown field")
    event_id = raw.get("id")
    if not isinstance(event_id, str) or not _ID.match(event_id):
        raise EventError(f"{where}.id: must be a string of 8-80 characters [A-Za-z0-9_.:-]")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in REGISTRY:
        shown = repr(kind)[:60] if isinstance(kind, str) else type(kind).__name__
        raise EventError(f"{where}.kind: unknown kind {shown} (known: {', '.join(REGISTRY)})")
    severity = raw.get("severity", "info")
    if not isinstance(severity, str) or severity not in SEVERITIES:
        raise EventError(f"{where}.severity: must be one of {', '.join(SEVERITIES)}")
    ts = raw.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not 0 <= ts <= MAX_TS:
        raise EventError(f"{where}.ts: must be a unix time in seconds")
    summary = raw.get("summary", "")
    if not isinstance(summary, str):
        raise EventError(f"{where}.summary: must be a string")
    agent = raw.get("agent")
    if agent is not None and not isinstance(agent, str):
        raise EventError(f"{where}.agent: must be a string")
    data = validate(kind, raw.get("data", {}), f"{where}.data")
    return {"id": event_id, "kind": kind, "severity": severity, "ts": float(ts),
            "summary": printable(summary[:MAX_SUMMARY]), "data": data, "agent": agent}


def max_severity(*names: str) -> str:
    """The most severe of the given severity names."""
    return max(names, key=lambda n: SEVERITY_RANK.get(n, 0)) if names else "info"
