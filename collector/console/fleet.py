"""Agents (last seen, version, watchers, spool backlog) and sites (up/down, defaced, certificate days),
refreshed live by polling their fragment every few seconds.
"""

from __future__ import annotations

from typing import Any

from govwatch.collector.api import agent_overview, site_overview
from govwatch.collector.console.render import Safe, html, join, when
from govwatch.collector.console.web import Console, Ctx
from govwatch.collector.httpd import Response

CERT_WARN_DAYS = 21
_STAT_KEYS = {"fim": ("watched_files",), "traffic": ("packets", "kernel_drops"), "defacement": ("sites",)}


def agent_rows(console: Console) -> list[dict[str, Any]]:
    """What GET /api/v1/agents says."""
    return agent_overview(console.store, console.cfg)


def _watchers(agent: dict[str, Any], w: Any) -> Safe:
    chips = []
    for name in agent["watchers"]:
        stats = agent["stats"].get(name) or {}
        figures = ", ".join(f"{w['fig_' + k]} {_figure(stats[k], w)}" for k in _STAT_KEYS.get(name, ()) if k in stats)
        label = w[f"watcher_{name}"] if w.has(f"watcher_{name}") else name
        chips.append(html('<span class="chip" title="{1}">{0}</span>', label, figures))
    return join(chips) or Safe("—")


def agents_table(console: Console, ctx: Ctx) -> Safe:
    w, agents = ctx.w, agent_rows(console)
    if not agents:
        return html('<p class="empty-state">{0}</p>', w["no_agents"])
    rows = []
    for a in agents:
        state = html('<span class="status {0}">{1}</span>', "st-open" if a["silent"] else "st-ok",
                     w["silent"] if a["silent"] else w["online"])
        backlog = "—" if a["spool_backlog"] is None else _figure(a["spool_backlog"], w)
        dropped = html(' <span class="badge sev-high">{0} {1}</span>', _figure(a["spool_dropped"], w), w["dropped"]) \
            if a["spool_dropped"] else Safe("")
        rows.append(html(
            '<tr><td class="title">{name}</td><td data-label="{t_state}">{state}</td>'
            '<td data-label="{t_seen}">{seen}</td><td data-label="{t_ver}">{ver}</td><td data-label="{t_host}">{host}'
            '</td><td data-label="{t_min}">{ministry}</td><td data-label="{t_w}">{watchers}</td>'
            '<td data-label="{t_spool}">{backlog}{dropped}</td></tr>',
            name=a["name"], t_state=w["status"], state=state, t_seen=w["last_seen"],
            seen=when(a["last_seen"], console.tz, w), t_ver=w["version"], ver=a["version"] or "—",
            t_host=w["hostname"], host=a["hostname"] or "—", t_min=w["ministry"], ministry=a["ministry"] or "—",
            t_w=w["watchers"], watchers=_watchers(a, w), t_spool=w["spool_backlog"], backlog=backlog, dropped=dropped))
    head = join(html("<th>{0}</th>", w[k]) for k in ("agent", "status", "last_seen", "version", "hostname",
                                                      "ministry", "watchers", "spool_backlog"))
    return html('<table class="grid"><thead><tr>{0}</tr></thead><tbody>{1}</tbody></table>', head, join(rows))


def _figure(value: Any, w: Any) -> str:
    return w.number(value) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def _cert(days: float | None, w: Any) -> Safe:
    if days is None:
        return Safe("—")
    css = "sev-critical" if days < 0 else "sev-high" if days < CERT_WARN_DAYS else "ok"
    return html('<span class="badge {0}">{1}</span>', css, w.digits(f"{days:.0f}"))


def sites_table(console: Console, ctx: Ctx) -> Safe:
    w, sites = ctx.w, site_overview(console.store, console.cfg)
    if not sites:
        return html('<p class="empty-state">{0}</p>', w["no_sites"])
    rows = []
    for s in sites:
        up = "unknown" if s["up"] is None else "up" if s["up"] else "down"
        defaced = html('<span class="badge sev-critical">{0}</span> <small>{1}</small>', w["defaced"],
                       ", ".join(s["defaced_by"])) if s["defaced"] else html('<span class="status st-ok">{0}</span>',
                                                                              w["clean"])
        if up == "down" and not s["defaced"]:
            defaced = Safe("—")  # the page did not load: nobody can say it is clean
        failed = up == "down" or bool(s["error"])  # a failed probe has no response time worth showing
        response = w.digits(f"{s['status'] or ''} {round(s['duration'] * 1000)}") + f" {w['unit_ms']}" \
            if s["duration"] is not None and not failed else "—"
        rows.append(html(
            '<tr class="{cls}"><td class="title">{name}</td><td data-label="{t_up}"><span class="status st-{up}">'
            '{up_w}</span></td><td data-label="{t_def}">{defaced}</td><td data-label="{t_cert}">{cert}</td>'
            '<td data-label="{t_probe}">{probe}</td><td data-label="{t_resp}">{resp}</td>'
            '<td data-label="{t_err}" lang="en">{err}</td></tr>',
            cls="bad" if up == "down" or s["defaced"] else "", name=s["name"], t_up=w["status"], up=up, up_w=w[up],
            t_def=w["defaced"], defaced=defaced, t_cert=w["cert_days"], cert=_cert(s["cert_days_left"], w),
            t_probe=w["last_probe"], probe=when(s["last_probe"], console.tz, w), t_resp=w["response"],
            resp=response, t_err=w["error"], err=s["error"] or ""))
    head = join(html("<th>{0}</th>", w[k]) for k in ("site", "status", "defaced", "cert_days", "last_probe",
                                                      "response", "error"))
    return html('<table class="grid"><thead><tr>{0}</tr></thead><tbody>{1}</tbody></table>', head, join(rows))


def _page(console: Console, ctx: Ctx, title_key: str, path: str, table: Safe) -> Response:
    if ctx.request.query.get("part"):
        return console.respond(ctx, table, full=False)
    body = html('<h1>{0}</h1><div class="live scroll" data-live="{1}?part=1" aria-live="polite">{2}</div>',
                ctx.w[title_key], path, table)
    return console.respond(ctx, body, title=ctx.w[title_key])


def install(console: Console, route: Any) -> None:
    route("GET", "/agents")(console.page("viewer")(
        lambda ctx: _page(console, ctx, "agents", "/agents", agents_table(console, ctx))))
    route("GET", "/sites")(console.page("viewer")(
        lambda ctx: _page(console, ctx, "sites", "/sites", sites_table(console, ctx))))
