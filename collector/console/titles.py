"""An incident's title in the reader's language, built from its facts (kind, site, agent, first evidence).

The collector stores one English title per incident (written when it opened, from the agent's summary).
The console, the report and the digest show this instead, so a Khmer reader gets a Khmer title and nobody
reads a rule template's raw values; the stored title stays the fallback for kinds the catalogue lacks.
"""

from __future__ import annotations

import json
from typing import Any

# SQL columns a list query adds so titles can be built; `with_facts` turns them into the ev_* facts (the JSON is
# decoded here, in Python, so the same query runs on SQLite and PostgreSQL)
TITLE_COLUMNS = "key, evidence AS ev_json"


def facts(incident: dict[str, Any]) -> dict[str, Any]:
    """The ev_* columns of TITLE_COLUMNS from a full incident row (with its evidence decoded)."""
    evidence = incident.get("evidence") if isinstance(incident.get("evidence"), dict) else {}
    fim = [f for f in evidence.get("fim") or [] if isinstance(f, dict)]
    anomalies = [a for a in evidence.get("anomalies") or [] if isinstance(a, dict)]
    return {**incident, "ev_path": fim[0].get("path") if fim else None,
            "ev_change": fim[0].get("change") if fim else None, "ev_count": len(fim),
            "ev_dst": anomalies[0].get("dst") if anomalies else None}


def with_facts(row: dict[str, Any]) -> dict[str, Any]:
    """A list row (TITLE_COLUMNS) with its ev_* facts and without the evidence text; bad JSON gives no facts."""
    text = row.pop("ev_json", None)
    try:
        evidence = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        evidence = {}
    facts_of = facts({"evidence": evidence if isinstance(evidence, dict) else {}})
    row.update({k: facts_of[k] for k in ("ev_path", "ev_change", "ev_count", "ev_dst")})
    return row


def incident_title(row: dict[str, Any], w: Any) -> str:
    """The title as `w`'s language words it."""
    kind, site, agent = row.get("kind"), row.get("site"), row.get("agent") or ""
    key = str(row.get("key") or "")
    if kind == "defacement" and site:
        return w.fmt("title_defacement", site=site)
    if kind == "site_down" and site:
        return w.fmt("title_site_down", site=site)
    if kind == "site_unreachable" and site:
        return w.fmt("title_site_unreachable", site=site)
    if kind == "fim" and key.startswith("fim_baseline:"):
        return w.fmt("title_fim_baseline", agent=agent)
    if kind == "fim" and row.get("ev_path"):
        count = int(row.get("ev_count") or 1)
        change = w.change(str(row.get("ev_change") or ""))
        if count > 1:
            return w.fmt("title_fim_many", path=row["ev_path"], change=change, n=count - 1)
        return w.fmt("title_fim", path=row["ev_path"], change=change)
    if kind == "traffic" and key.count(":") >= 2:
        what = w.traffic_kind(key.split(":", 2)[2])
        if row.get("ev_dst"):
            return w.fmt("title_traffic_dst", what=what, dst=row["ev_dst"], agent=agent)
        return w.fmt("title_traffic", what=what, agent=agent)
    if w.lang == "en" and row.get("title"):
        return str(row["title"])
    return w.fmt("title_other", kind=w.kind(str(kind)))


def resolver(name: str | None, w: Any) -> str:
    """Who resolved it, in words: a person's name, or what govwatch did by itself."""
    text = str(name or "")
    if text.startswith("merged into incident #"):
        return w.fmt("resolved_merged", n=text.rsplit("#", 1)[1])
    if text.startswith("govwatch:quiet:"):
        return w.fmt("resolved_quiet", quiet=w.duration(float(text.rsplit(":", 1)[1] or 0)))
    return text
