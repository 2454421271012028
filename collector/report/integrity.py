"""When a site was defaced or its files tampered with, from the collector's incidents.

A defacement incident of the site counts from its opening until it was resolved (by a person, or by
accepting a redesign); a file-integrity incident counts when collector.yml ties the site to an agent's
web root (`web_root: "agent:/path"`) and the incident's changed files lie under that root. Incidents
still open count until the end of the period. A site that served a defaced page was up, but not
*intact*: the report's headline figure counts both.
"""

from __future__ import annotations

import json
from typing import Any

from govwatch.collector.uptime import Interval, merge

TAMPER_KINDS = ("defacement", "fim")


def _paths(incident: dict[str, Any]) -> list[str]:
    raw = incident.get("evidence")
    try:
        evidence = json.loads(raw) if isinstance(raw, str | bytes) else raw or {}
    except ValueError:
        return []
    items = evidence.get("fim") if isinstance(evidence, dict) else None
    return [str(f.get("path") or "") for f in items or [] if isinstance(f, dict)]


def concerns(incident: dict[str, Any], site: dict[str, Any]) -> bool:
    """Whether a defacement or FIM incident is about this site's content."""
    if incident.get("kind") == "defacement":
        return incident.get("site") == site["name"]
    if incident.get("kind") != "fim":
        return False
    agent, sep, root = (site.get("web_root") or "").partition(":")
    if not sep or incident.get("agent") != agent:
        return False
    prefix = root.rstrip("/") + "/"
    paths = _paths(incident)
    return bool(paths) and all(p.startswith(prefix) for p in paths)


def tampered_intervals(incidents: list[dict[str, Any]], site: dict[str, Any], stop: float) -> list[Interval]:
    """[opened, resolved) of every incident about the site's content; open ones run to `stop`."""
    spans = [(float(i["opened"]), float(i["resolved"] or stop)) for i in incidents
             if i.get("kind") in TAMPER_KINDS and concerns(i, site)]
    return merge(spans)
