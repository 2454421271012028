"""Triage: acknowledge, resolve, comment, accept a redesign as the new baseline; and reading incidents.

The forms of the pages and the JSON API both call these, so a browser and a script get the same
rules. A refused action says why in an `ActionError` (HTTP status + message key for the console).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from govwatch.collector import badrows
from govwatch.collector.console.titles import TITLE_COLUMNS, with_facts
from govwatch.collector.store import Store
from govwatch.events import SEVERITY_RANK

ACTIONS_TABLE = """
CREATE TABLE IF NOT EXISTS incident_actions (
  incident INTEGER NOT NULL, ts REAL NOT NULL, author TEXT NOT NULL, action TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS incident_actions_incident ON incident_actions (incident, ts);
"""
MAX_COMMENT = 4000
STATUS_ORDER = {"open": 0, "acknowledged": 1, "resolved": 2}


class ActionError(Exception):
    """An action that cannot be done: HTTP status and a plain reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def install_tables(store: Store) -> None:
    with store.transaction() as conn:
        for statement in filter(str.strip, ACTIONS_TABLE.split(";")):
            conn.execute(statement)


def incident(store: Store, incident_id: int) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM incidents WHERE id=?", (incident_id,))
    if not rows:
        return None
    out = dict(rows[0])
    out["evidence"] = badrows.evidence(out.get("evidence"), out.get("agent"))  # a bad row is skipped, not a 500
    return out


def agent_config_file(store: Store, agent: str | None) -> str | None:
    """The agent.yml path the agent reported in its last heartbeat, so printed commands work as printed."""
    if not agent:
        return None
    rows = store.query("SELECT status FROM agents WHERE name=?", (agent,))
    try:
        status = json.loads(rows[0]["status"]) if rows and rows[0]["status"] else {}
    except ValueError:
        return None
    path = status.get("config_file") if isinstance(status, dict) else None
    return path if isinstance(path, str) and path.startswith("/") and len(path) < 4096 else None


def timeline(store: Store, incident_id: int) -> list[dict[str, Any]]:
    """Comments and actions on an incident, oldest first."""
    comments = [{"ts": r["ts"], "author": r["author"], "action": "commented", "note": r["text"]}
                for r in store.query("SELECT * FROM incident_comments WHERE incident=?", (incident_id,))]
    actions = [dict(r) for r in store.query("SELECT ts, author, action, note FROM incident_actions WHERE incident=?",
                                            (incident_id,))]
    return sorted(comments + actions, key=lambda item: item["ts"])


def triage_order(row: Any) -> tuple:
    """Open first, then acknowledged, then resolved; worst severity first; the longest waiting first
    (resolved ones: the most recently resolved first)."""
    status = STATUS_ORDER.get(row["status"], 3)
    age_key = -(row["resolved"] or row["updated"]) if row["status"] == "resolved" else row["opened"]
    return status, -SEVERITY_RANK.get(row["severity"], 0), age_key


def incident_list(store: Store, status: str = "active", kind: str = "", min_severity: str = "",
                  limit: int = 300) -> list[dict[str, Any]]:
    """Incidents for the list page, in triage order (without their evidence: the list stays light)."""
    sql = "SELECT id, kind, site, agent, severity, status, title, opened, updated, resolved, acknowledged_by, " \
          f"resolved_by, {TITLE_COLUMNS} FROM incidents WHERE 1=1"
    params: list[Any] = []
    if status == "active":
        sql += " AND status != 'resolved'"
    elif status in STATUS_ORDER:
        sql, params = sql + " AND status=?", [*params, status]
    if kind:
        sql, params = sql + " AND kind=?", [*params, kind]
    if min_severity in SEVERITY_RANK:
        allowed = [s for s, rank in SEVERITY_RANK.items() if rank >= SEVERITY_RANK[min_severity]]
        sql += f" AND severity IN ({','.join('?' * len(allowed))})"
        params += allowed
    rows = store.query(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
    return sorted((with_facts(dict(r)) for r in rows), key=triage_order)


def _require(store: Store, incident_id: int) -> dict[str, Any]:
    found = incident(store, incident_id)
    if found is None:
        raise ActionError(404, f"no incident {incident_id}")
    return found


def _log(conn: Any, incident_id: int, user: str, action: str, note: str = "") -> None:
    conn.execute("INSERT INTO incident_actions(incident, ts, author, action, note) VALUES (?,?,?,?,?)",
                 (incident_id, time.time(), user, action, note))


def acknowledge(store: Store, incident_id: int, user: str) -> dict[str, Any]:
    with store.transaction() as conn:
        cur = conn.execute("UPDATE incidents SET status='acknowledged', acknowledged_by=? WHERE id=? AND status='open'",
                           (user, incident_id))
        if cur.rowcount == 1:
            _log(conn, incident_id, user, "acknowledged")
    if cur.rowcount != 1:
        found = _require(store, incident_id)
        raise ActionError(409, f"incident {incident_id} is already {found['status']}")
    return _require(store, incident_id)


def resolve(store: Store, incident_id: int, user: str, note: str = "", action: str = "resolved") -> dict[str, Any]:
    with store.transaction() as conn:
        cur = conn.execute("UPDATE incidents SET status='resolved', resolved=?, resolved_by=?, "
                           "acknowledged_by=COALESCE(acknowledged_by, ?) WHERE id=? AND status!='resolved'",
                           (time.time(), user, user, incident_id))
        if cur.rowcount == 1:
            _log(conn, incident_id, user, action, note)
    if cur.rowcount != 1:
        _require(store, incident_id)
        raise ActionError(409, f"incident {incident_id} is already resolved")
    return _require(store, incident_id)


def comment(store: Store, incident_id: int, user: str, text: str) -> dict[str, Any]:
    text = (text or "").strip()
    if not text:
        raise ActionError(400, "the comment is empty")
    if len(text) > MAX_COMMENT:
        raise ActionError(400, f"the comment is over {MAX_COMMENT} characters")
    _require(store, incident_id)
    with store.transaction() as conn:
        conn.execute("INSERT INTO incident_comments(incident, ts, author, text) VALUES (?,?,?,?)",
                     (incident_id, time.time(), user, text))
    return _require(store, incident_id)


def rebaseline(store: Store, hook: Callable[..., Any] | None, incident_id: int, user: str) -> dict[str, Any]:
    """Accept the defaced site's current page as its baseline, then resolve the incident."""
    found = _require(store, incident_id)
    if found["kind"] != "defacement" or not found["site"]:
        raise ActionError(400, "only a defacement incident of a site can be accepted as a new baseline")
    if found["status"] == "resolved":
        raise ActionError(409, f"incident {incident_id} is already resolved")
    if hook is None:
        raise ActionError(503, "accepting a new baseline is not available: this collector runs no outside view")
    if hook(found["site"], user) is None:
        raise ActionError(404, f"the collector does not know the site {found['site']!r}")
    return resolve(store, incident_id, user, note=found["site"], action="rebaselined")
