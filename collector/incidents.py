"""What each accepted event does to collector state: counters, current states and incidents.

Runs inside the ingest transaction, so state and counters move exactly once per event. Incidents
group related events: a defacement of a site joins the FIM changes its agent reported in the same
minutes (the "index.php changed" + "the page now says Hacked by" story in one place).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from govwatch.collector.counters import Counts, bump
from govwatch.events import SEVERITY_RANK, max_severity

MAX_EVIDENCE_ITEMS = 50
RENDER_KEYS = ("screenshot", "known_good_screenshot", "visual_difference", "referrer_final_url")


@dataclass(frozen=True)
class Joining:
    """What joins a defacement to file changes: the same agent, within `window` seconds, and - when
    collector.yml names the site's `web_root: "agent:/path"` - only changes under that web root."""

    window: float = 600.0
    web_roots: dict[str, tuple[str, str]] = field(default_factory=dict)  # site -> (agent, root path)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Joining:
        roots = {}
        for site in cfg.get("sites", []):
            agent, sep, root = (site.get("web_root") or "").partition(":")
            if sep and agent and root:
                roots[site["name"]] = (agent, root.rstrip("/") + "/")
        return cls(cfg["incidents"]["join_window"], roots)

    def agent_for(self, site: str) -> str | None:
        entry = self.web_roots.get(site)
        return entry[0] if entry else None

    def covers(self, site: str | None, agent: str | None, path: str | None) -> bool:
        """Whether a file change at `path` on `agent` belongs to `site`."""
        entry = self.web_roots.get(site or "")
        if entry is None:
            return True
        return entry[0] == agent and bool(path) and str(path).startswith(entry[1])


def apply(conn: sqlite3.Connection, agent: str, event: dict[str, Any], now: float, counts: Counts,
          joining: Joining) -> None:
    """Dispatch one newly inserted event by kind."""
    handler = _HANDLERS.get(event["kind"])
    if handler:
        handler(conn, agent, event, now, counts, joining)


def _heartbeat(conn, agent, event, now, counts, joining) -> None:
    data = event["data"]
    conn.execute("UPDATE agents SET status=?, version=?, hostname=?, ministry=COALESCE(NULLIF(?, ''), ministry) "
                 "WHERE name=?", (json.dumps(data, separators=(",", ":")), str(data.get("version", ""))[:40],
                                  str(data.get("hostname", ""))[:200], str(data.get("ministry", ""))[:100], agent))


def _fim(conn, agent, event, now, counts, joining) -> None:
    data = event["data"]
    bump(counts, "govwatch_fim_changes_total", agent=agent, change=data.get("change"), severity=event["severity"])
    if SEVERITY_RANK[event["severity"]] < SEVERITY_RANK["high"]:
        return
    item = {"ts": event["ts"], "id": event["id"], "path": data.get("path"), "change": data.get("change"),
            "severity": event["severity"], "summary": event["summary"], "diff": data.get("diff"),
            "known_good": data.get("known_good", False), "rules": data.get("rules", [])}
    candidates = conn.execute("SELECT * FROM incidents WHERE kind='defacement' AND agent=? AND status!='resolved' "
                              "AND updated >= ? ORDER BY updated DESC", (agent, now - joining.window)).fetchall()
    joined = next((row for row in candidates if joining.covers(row["site"], agent, data.get("path"))), None)
    if joined is not None:
        _append(conn, joined, "fim", item, event["severity"], now)
        return
    key = f"fim:{agent}:{data.get('root') or ''}"
    title = event["summary"] or f"{data.get('change')} {data.get('path')}"
    _open_or_append(conn, counts, key, "fim", None, agent, event["severity"], title, "fim", item, now, joining.window)


def _fim_status(conn, agent, event, now, counts, joining) -> None:
    data = event["data"]
    if data.get("problem") == "overflow":
        bump(counts, "govwatch_fim_overflows_total", agent=agent)
    if data.get("problem") == "baseline_tampered":
        item = {"ts": event["ts"], "detail": data.get("detail"), "path": data.get("path")}
        _open_or_append(conn, counts, f"fim_baseline:{agent}", "fim", None, agent, "critical",
                        f"integrity baseline failed verification on {agent}", "problems", item, now, joining.window)


def record_defacement(conn: sqlite3.Connection, source: str, agent: str | None, data: dict[str, Any],
                      severity: str, ts: float, now: float, counts: Counts, joining: Joining) -> None:
    """Set a site's defacement state for one view and open or extend its incident."""
    site = str(data.get("site") or "")
    agent = agent or joining.agent_for(site)
    defaced = 1 if data.get("state") == "defaced" else 0
    previous = conn.execute("SELECT defaced FROM defacement_state WHERE site=? AND source=?", (site, source)).fetchone()
    if previous is None or previous["defaced"] != defaced:
        conn.execute("INSERT INTO defacement_state(site, source, defaced, since, score, reasons) VALUES (?,?,?,?,?,?) "
                     "ON CONFLICT(site, source) DO UPDATE SET defaced=excluded.defaced, since=excluded.since, "
                     "score=excluded.score, reasons=excluded.reasons", (site, source, defaced, ts,
                                                                        float(data.get("score") or 0),
                                               json.dumps(data.get("reasons") or [], ensure_ascii=False)))
    view = {"ts": ts, "source": source, "view": data.get("view", "browser"), "state": data.get("state"),
            "score": data.get("score"), "reasons": data.get("reasons", []), "new_domains": data.get("new_domains", []),
            "diff": data.get("diff"), "url": data.get("url"), "title": data.get("title")}
    view.update({k: data[k] for k in RENDER_KEYS if data.get(k) is not None})  # the rendered view's screenshots
    key = f"defacement:{site}"
    open_row = conn.execute("SELECT * FROM incidents WHERE key=? AND status!='resolved' ORDER BY id DESC LIMIT 1",
                            (key,)).fetchone()
    if not defaced:
        if open_row is not None:
            _append(conn, open_row, "views", view, "info", now)
        return
    if open_row is not None:
        _append(conn, open_row, "views", view, severity, now)
        return
    fim = [f for f in _recent_fim(conn, agent, now, joining.window) if joining.covers(site, agent, f["path"])] \
        if agent else []
    incident = _create(conn, counts, key, "defacement", site, agent, severity, f"site {site} defaced ({source})",
                       {"views": [view], "fim": fim}, now)
    if agent:
        _absorb_fim_incidents(conn, agent, site, incident, now, joining)


def _absorb_fim_incidents(conn: sqlite3.Connection, agent: str, site: str, incident: int, now: float,
                          joining: Joining) -> None:
    """FIM incidents of the same agent (and web root) from the last minutes become part of the defacement."""
    rows = conn.execute("SELECT id, evidence FROM incidents WHERE kind='fim' AND agent=? AND status!='resolved' "
                        "AND updated >= ? AND key LIKE 'fim:%:%'", (agent, now - joining.window)).fetchall()
    for row in rows:
        paths = [f.get("path") for f in json.loads(row["evidence"]).get("fim", [])]
        if paths and all(joining.covers(site, agent, p) for p in paths):
            conn.execute("UPDATE incidents SET status='resolved', resolved=?, updated=?, resolved_by=? WHERE id=?",
                         (now, now, f"merged into incident #{incident}", row["id"]))


def record_site_down(conn: sqlite3.Connection, site: str, down: bool, probe: dict[str, Any], now: float,
                     counts: Counts, severity: str = "high") -> None:
    """Confirmed downtime opens a `site_down` incident (probe evidence: failed phase, error, since when);
    the first good probe after it appends that probe and resolves the incident."""
    _site_condition(conn, counts, "site_down", site, None, down, "probes", probe, severity, now,
                    f"site {site} is down ({probe.get('error')})")


def record_site_unreachable(conn: sqlite3.Connection, site: str, unreachable: bool, view: dict[str, Any],
                            now: float, counts: Counts, severity: str = "medium") -> None:
    """"Up inside, down outside": the site's own server fetches its page while outside probes fail, so the
    fault is the network or DNS, not the server (a `site_unreachable` incident, not `site_down`); the first
    good outside probe resolves it."""
    _site_condition(conn, counts, "site_unreachable", site, view.get("agent"), unreachable, "views", view,
                    severity, now,
                    f"site {site} is up on its server but unreachable from outside (network or DNS, not the server)")


def _site_condition(conn: sqlite3.Connection, counts: Counts, kind: str, site: str, agent: str | None,
                    holds: bool, section: str, item: dict[str, Any], severity: str, now: float, title: str) -> None:
    """A site incident that opens when a condition holds, collects evidence while it does, and resolves with
    the observation that ended it (the first good outside probe)."""
    key = f"{kind}:{site}"
    row = conn.execute("SELECT * FROM incidents WHERE key=? AND status!='resolved' ORDER BY id DESC LIMIT 1",
                       (key,)).fetchone()
    if holds and row is None:
        _create(conn, counts, key, kind, site, agent, severity, title, {section: [item]}, now)
    elif holds:
        _append(conn, row, section, item, severity, now)
    elif row is not None:
        _append(conn, row, section, item, "info", now)
        conn.execute("UPDATE incidents SET status='resolved', resolved=?, updated=?, resolved_by=? WHERE id=?",
                     (now, now, "recovered: the outside probe succeeded", row["id"]))


def _defacement(conn, agent, event, now, counts, joining) -> None:
    record_defacement(conn, agent, agent, event["data"], event["severity"], event["ts"], now, counts, joining)


def _traffic(conn, agent, event, now, counts, joining) -> None:
    data = event["data"]
    kind = str(data.get("kind") or "unknown")
    item = {"ts": event["ts"], "state": data.get("state"), "src": data.get("src"), "dst": data.get("dst"),
            "start": data.get("start"), "end": data.get("end"), "evidence": data.get("evidence", {})}
    if data.get("state") == "end":
        conn.execute("DELETE FROM traffic_active WHERE agent=? AND kind=?", (agent, kind))
    else:
        conn.execute("INSERT INTO traffic_active(agent, kind, since, evidence) VALUES (?,?,?,?) "
                     "ON CONFLICT(agent, kind) DO UPDATE SET since=excluded.since, evidence=excluded.evidence",
                     (agent, kind, event["ts"], json.dumps(data.get("evidence", {}), ensure_ascii=False)))
        bump(counts, "govwatch_traffic_anomalies_total", agent=agent, kind=kind)
    title = event["summary"] or f"{kind} on {agent}"
    _open_or_append(conn, counts, f"traffic:{agent}:{kind}", "traffic", None, agent, event["severity"], title,
                    "anomalies", item, now, joining.window, create=data.get("state") != "end")


LOGIN_KINDS = ("web_brute_force", "ssh_brute_force", "ssh_user_sweep", "login_after_guessing")


def _logs(conn, agent, event, now, counts, joining) -> None:
    """A log finding: web-shell use joins the FIM incident of the file it used (with the source's traffic);
    login guessing names the packet view's incident for the same source when there is one."""
    data = event["data"]
    kind, src, state = str(data.get("kind") or "unknown"), str(data.get("src") or ""), data.get("state")
    evidence = data.get("evidence") if isinstance(data.get("evidence"), dict) else {}
    item = {"ts": event["ts"], "state": state, "src": src, "start": data.get("start"), "end": data.get("end"),
            "summary": event["summary"], "evidence": evidence}
    if kind == "webshell_use":
        fim = _fim_incident_using(conn, agent, evidence.get("file"), evidence.get("path"))
        if fim is not None:
            _append(conn, fim, "requests", item, event["severity"], now)
            traffic = _traffic_of_source(conn, agent, src, now, joining.window) if state == "start" else []
            if traffic:
                fim = conn.execute("SELECT * FROM incidents WHERE id=?", (fim["id"],)).fetchone()
                _append(conn, fim, "traffic", {"ts": event["ts"], "src": src, "incidents": traffic}, "info", now)
            return
    if kind in LOGIN_KINDS:
        item["packet_view"] = _traffic_of_source(conn, agent, src, now, joining.window)
    title = event["summary"] or f"{kind} from {src} on {agent}"
    _open_or_append(conn, counts, f"logs:{agent}:{kind}:{src or evidence.get('path') or ''}"[:300], "logs", None,
                    agent, event["severity"], title, "findings", item, now, joining.window, create=state != "end")


def _fim_incident_using(conn: sqlite3.Connection, agent: str, file: Any, url_path: Any) -> sqlite3.Row | None:
    """The open incident (FIM or defacement) holding the creation of `file` (or of a file served as `url_path`)."""
    rows = conn.execute("SELECT * FROM incidents WHERE agent=? AND kind IN ('fim', 'defacement') "
                        "AND status!='resolved' ORDER BY id DESC LIMIT 50", (agent,)).fetchall()
    for row in rows:
        for change in json.loads(row["evidence"]).get("fim", []):
            path = str(change.get("path") or "")
            if change.get("change") == "created" and path and (
                    path == file or (not file and url_path and path.endswith(str(url_path)))):
                return row
    return None


def _traffic_of_source(conn: sqlite3.Connection, agent: str, src: str, now: float,
                       window: float) -> list[dict[str, Any]]:
    """The packet watcher's recent incidents naming `src` (as the source or among the top sources)."""
    if not src or src == "many":
        return []
    rows = conn.execute("SELECT id, key, title, evidence FROM incidents WHERE agent=? AND kind='traffic' "
                        "AND updated >= ? ORDER BY id DESC LIMIT 20", (agent, now - window)).fetchall()
    out = []
    for row in rows:
        text = row["evidence"]
        if f'"{src}"' in text:
            out.append({"incident": row["id"], "kind": row["key"].rsplit(":", 1)[-1], "title": row["title"]})
    return out


def _recent_fim(conn: sqlite3.Connection, agent: str, now: float, window: float) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT id, ts, severity, summary, data FROM events WHERE agent=? AND kind='fim' "
                        "AND received >= ? ORDER BY ts DESC LIMIT ?", (agent, now - window, MAX_EVIDENCE_ITEMS))
    out = []
    for row in rows:
        data = json.loads(row["data"])
        out.append({"ts": row["ts"], "id": row["id"], "path": data.get("path"), "change": data.get("change"),
                    "severity": row["severity"], "summary": row["summary"], "diff": data.get("diff"),
                    "known_good": data.get("known_good", False), "rules": data.get("rules", [])})
    return out


def _open_or_append(conn, counts, key, kind, site, agent, severity, title, field, item, now, window,
                    create: bool = True) -> None:
    row = conn.execute("SELECT * FROM incidents WHERE key=? AND status!='resolved' AND updated >= ? "
                       "ORDER BY id DESC LIMIT 1", (key, now - window)).fetchone()
    if row is not None:
        _append(conn, row, field, item, severity, now)
    elif create:
        _create(conn, counts, key, kind, site, agent, severity, title, {field: [item]}, now)


def _create(conn, counts, key, kind, site, agent, severity, title, evidence, now) -> int:
    cur = conn.execute(
        "INSERT INTO incidents(key, kind, site, agent, severity, status, title, opened, updated, evidence) "
        "VALUES (?,?,?,?,?,'open',?,?,?,?) RETURNING id",
        (key, kind, site, agent, severity, title[:300], now, now, json.dumps(evidence, ensure_ascii=False)))
    bump(counts, "govwatch_incidents_total", kind=kind, severity=severity)
    return int(cur.fetchone()[0])


def _append(conn: sqlite3.Connection, row: sqlite3.Row, field: str, item: dict[str, Any], severity: str,
            now: float) -> None:
    evidence = json.loads(row["evidence"])
    items = evidence.setdefault(field, [])
    items.append(item)
    del items[:-MAX_EVIDENCE_ITEMS]
    conn.execute("UPDATE incidents SET evidence=?, updated=?, severity=? WHERE id=?",
                 (json.dumps(evidence, ensure_ascii=False), now, max_severity(row["severity"], severity), row["id"]))


def resolve_quiet(conn: sqlite3.Connection, now: float, quiet: float) -> int:
    """Resolve traffic incidents whose anomaly has ended (its agent sent `end`, nothing active remains) and
    that stayed quiet for `quiet` seconds; returns how many. Defacement and FIM incidents never resolve by
    themselves: a changed page or file stays wrong until a person looks."""
    rows = conn.execute("SELECT id, key, agent FROM incidents WHERE kind='traffic' AND status!='resolved' "
                        "AND updated <= ?", (now - quiet,)).fetchall()
    resolved = 0
    for row in rows:
        kind = str(row["key"]).split(":", 2)[-1]
        if conn.execute("SELECT 1 FROM traffic_active WHERE agent=? AND kind=?", (row["agent"], kind)).fetchone():
            continue
        conn.execute("UPDATE incidents SET status='resolved', resolved=?, resolved_by=? WHERE id=?",
                     (now, f"govwatch:quiet:{quiet:g}", row["id"]))
        resolved += 1
    return resolved


_HANDLERS = {"heartbeat": _heartbeat, "fim": _fim, "fim_status": _fim_status, "defacement": _defacement,
             "traffic": _traffic, "logs": _logs}
