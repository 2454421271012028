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

SEVERITIES = ("info", "low", "medium", "high", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

# kind -> what it reports; the collector refuses any other kind.
KINDS = {
    "heartbeat": "agent is alive; data carries version, watchers, spool backlog and watcher stats",
    "fim": "a file changed: data.path, data.change (created|modified|deleted|attributes), before/after, diff",
    "fim_status": "integrity watcher trouble: baseline tampered, inotify overflow, unreadable files",
    "defacement": "a watched page changed state: data.site, data.state (defaced|clean), score, reasons",
    "traffic": "a traffic anomaly opened or closed: data.kind, data.state (start|end), evidence",
    "logs": "a log finding opened, grew or closed: data.kind, data.state (start|update|end), src, evidence",
    "agent": "agent-level notices: spool overflow (events dropped), watcher failures, capability missing",
}
FIM_CHANGES = ("created", "modified", "deleted", "attributes")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,80}$")
MAX_SUMMARY = 500


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


class EventError(ValueError):
    """An event in a posted batch is malformed; the message names the field."""


def check_event(raw: Any, index: int) -> dict[str, Any]:
    """Validate one posted event and return it normalised, or raise EventError `events[i].field: why`."""
    where = f"events[{index}]"
    if not isinstance(raw, dict):
        raise EventError(f"{where}: must be an object")
    unknown = set(raw) - {"id", "kind", "data", "severity", "summary", "ts", "agent"}
    if unknown:
        raise EventError(f"{where}.{sorted(unknown)[0]}: unknown field")
    event_id = raw.get("id")
    if not isinstance(event_id, str) or not _ID.match(event_id):
        raise EventError(f"{where}.id: must be a string of 8-80 characters [A-Za-z0-9_.:-]")
    if raw.get("kind") not in KINDS:
        raise EventError(f"{where}.kind: unknown kind {raw.get('kind')!r} (known: {', '.join(KINDS)})")
    severity = raw.get("severity", "info")
    if severity not in SEVERITIES:
        raise EventError(f"{where}.severity: must be one of {', '.join(SEVERITIES)}")
    ts = raw.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not 946684800 <= ts <= 4102444800:
        raise EventError(f"{where}.ts: must be a unix time in seconds")
    data = raw.get("data", {})
    if not isinstance(data, dict):
        raise EventError(f"{where}.data: must be an object")
    summary = raw.get("summary", "")
    if not isinstance(summary, str):
        raise EventError(f"{where}.summary: must be a string")
    if raw["kind"] == "fim" and data.get("change") not in FIM_CHANGES:
        raise EventError(f"{where}.data.change: must be one of {', '.join(FIM_CHANGES)}")
    return {"id": event_id, "kind": raw["kind"], "severity": severity, "ts": float(ts),
            "summary": summary[:MAX_SUMMARY], "data": data, "agent": raw.get("agent")}


def max_severity(*names: str) -> str:
    """The most severe of the given severity names."""
    return max(names, key=lambda n: SEVERITY_RANK.get(n, 0)) if names else "info"
