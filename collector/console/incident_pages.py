"""The incident list (triage order, filters, live) and the incident page (evidence, timeline, actions),
plus the JSON API for the same actions.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from govwatch.collector.console import actions
from govwatch.collector.console.evidence import render_all
from govwatch.collector.console.i18n import severity_word
from govwatch.collector.console.render import Safe, html, join, when
from govwatch.collector.console.titles import facts, incident_title, resolver
from govwatch.collector.console.web import Console, Ctx
from govwatch.collector.httpd import Response
from govwatch.events import SEVERITIES

STATUS_FILTERS = ("active", "open", "acknowledged", "resolved", "all")
KINDS = ("defacement", "fim", "traffic", "site_down", "site_unreachable")
ACTION_MESSAGES = {"acknowledge": "msg_acknowledged", "resolve": "msg_resolved", "comment": "msg_commented",
                   "rebaseline": "msg_rebaselined"}


def _filters(ctx: Ctx) -> dict[str, str]:
    query = ctx.request.query
    status = query.get("status", "active")
    return {"status": status if status in STATUS_FILTERS else "active",
            "kind": query.get("kind", "") if query.get("kind") in KINDS else "",
            "severity": query.get("severity", "") if query.get("severity") in SEVERITIES else ""}


def _badge(severity: str, lang: str) -> Safe:
    return html('<span class="badge sev-{0}">{1}</span>', severity, severity_word(severity, lang))


def _status(status: str, ctx: Ctx) -> Safe:
    return html('<span class="status st-{0}">{1}</span>', status, ctx.w.get("status_" + status, status))


def _options(values: list[tuple[str, str]], chosen: str) -> Safe:
    return join(html('<option value="{0}"{2}>{1}</option>', value, label,
                     Safe(" selected") if value == chosen else "") for value, label in values)


def list_rows(console: Console, ctx: Ctx, filters: dict[str, str]) -> Safe:
    rows = actions.incident_list(console.store, filters["status"], filters["kind"], filters["severity"])
    if not rows:
        return html('<p class="empty-state">{0}</p>', ctx.w["no_incidents"])
    body = join(html(
        '<tr class="{cls}"><td data-label="{t_sev}">{sev}</td><td data-label="{t_status}">{status}</td>'
        '<td data-label="{t_kind}">{kind}</td><td class="title"><a href="/incidents/{id}">{title}</a></td>'
        '<td data-label="{t_where}" translate="no">{where}</td><td data-label="{t_opened}">{opened}</td>'
        '<td data-label="{t_updated}">{updated}</td></tr>',
        cls=f"row-{r['status']}", t_sev=ctx.w["severity"], sev=_badge(r["severity"], ctx.lang),
        t_status=ctx.w["status"], status=_status(r["status"], ctx),
        t_kind=ctx.w["kind"], kind=ctx.w.get("kind_" + r["kind"], r["kind"]),
        id=r["id"], title=incident_title(r, ctx.w), t_where=ctx.w["site"], where=r["site"] or "—",
        t_opened=ctx.w["opened"], opened=when(r["opened"], console.tz, ctx.w), t_updated=ctx.w["updated"],
        updated=when(r["updated"], console.tz, ctx.w)) for r in rows)
    w = ctx.w
    return html('<table class="grid incidents"><thead><tr><th>{0}</th><th>{1}</th><th>{2}</th><th>{3}</th>'
                "<th>{4}</th><th>{5}</th><th>{6}</th></tr></thead><tbody>{7}</tbody></table>", w["severity"],
                w["status"], w["kind"], w["title"], w["site"], w["opened"], w["updated"], body)


def incident_list(console: Console, ctx: Ctx) -> Response:
    filters = _filters(ctx)
    rows = list_rows(console, ctx, filters)
    if ctx.request.query.get("part"):
        return console.respond(ctx, rows, full=False)
    w = ctx.w
    status_opts = _options([(s, w["active_only"] if s == "active" else w["all"] if s == "all" else w["status_" + s])
                            for s in STATUS_FILTERS], filters["status"])
    kind_opts = _options([("", w["any_kind"])] + [(k, w["kind_" + k]) for k in KINDS], filters["kind"])
    sev_opts = _options([("", w["any_severity"])] + [(s, "≥ " + severity_word(s, ctx.lang)) for s in SEVERITIES],
                        filters["severity"])
    live = "/?" + urlencode({**filters, "part": "1"})
    body = html('<h1>{0}</h1><form method="get" action="/" class="filters"><select name="status" aria-label="{1}">'
                '{2}</select><select name="kind" aria-label="{3}">{4}</select><select name="severity" '
                'aria-label="{5}">{6}</select><button>{7}</button></form>'
                '<div class="live" data-live="{8}" aria-live="polite">{9}</div>',
                w["incidents"], w["status"], status_opts, w["kind"], kind_opts, w["severity"], sev_opts, w["filter"],
                live, rows)
    return console.respond(ctx, body, title=w["incidents"])


def _action_forms(console: Console, ctx: Ctx, inc: dict[str, Any]) -> Safe:
    w = ctx.w
    if not ctx.is_admin:
        return html('<p class="muted">{0}</p>', w["read_only"])

    def button(action: str, label: str, css: str = "", confirm: str = "") -> Safe:
        extra = html(' data-confirm="{0}"', confirm) if confirm else Safe("")
        return html('<form method="post" action="/incidents/{0}/{1}"{2}><input type="hidden" name="csrf" value="{3}">'
                    '<button class="{4}" name="do" value="{1}">{5}</button></form>', inc["id"], action, extra,
                    ctx.csrf, css, label)

    buttons = []
    if inc["status"] == "open":
        buttons.append(button("acknowledge", w["acknowledge"], "primary"))
    if inc["status"] != "resolved":
        buttons.append(button("resolve", w["resolve"], "", w["confirm_resolve"]))
        if inc["kind"] == "defacement" and inc["site"]:
            buttons.append(html('{0}<p class="muted small">{1}</p>',
                                button("rebaseline", w["rebaseline"], "warn", w["confirm_rebaseline"]),
                                w["rebaseline_help"]))
    comment = html('<form method="post" action="/incidents/{0}/comment" class="stack comment"><input type="hidden" '
                   'name="csrf" value="{1}"><label>{2}<textarea name="text" rows="3" maxlength="4000" required>'
                   '</textarea></label><button>{3}</button></form>', inc["id"], ctx.csrf, w["comment"],
                   w["add_comment"])
    return html('<div class="buttons">{0}</div>{1}', join(buttons), comment)


def _timeline(console: Console, ctx: Ctx, incident_id: int) -> Safe:
    items = actions.timeline(console.store, incident_id)
    if not items:
        return Safe("")
    rows = join(html('<li><b>{0}</b> {1} <span class="muted">{2}</span>{3}</li>', item["author"],
                     ctx.w.get("action_" + item["action"], item["action"]), when(item["ts"], console.tz, ctx.w),
                     html("<blockquote>{0}</blockquote>", item["note"]) if item["note"] and
                     item["action"] == "commented" else "") for item in items)
    return html('<section class="card"><h2>{0}</h2><ol class="timeline">{1}</ol></section>', ctx.w["timeline"], rows)


def _facts(console: Console, ctx: Ctx, inc: dict[str, Any]) -> Safe:
    w = ctx.w
    facts = [(w["severity"], _badge(inc["severity"], ctx.lang)), (w["status"], _status(inc["status"], ctx)),
             (w["kind"], w.get("kind_" + inc["kind"], inc["kind"])), (w["site"], inc["site"] or "—"),
             (w["agent"], inc["agent"] or "—"), (w["opened"], when(inc["opened"], console.tz, ctx.w)),
             (w["updated"], when(inc["updated"], console.tz, ctx.w))]
    if inc.get("acknowledged_by"):
        facts.append((w["acknowledged_by"], inc["acknowledged_by"]))
    if inc.get("resolved_by"):
        facts.append((w["resolved_by"], resolver(inc["resolved_by"], w)))
    return join(html("<dt>{0}</dt><dd>{1}</dd>", k, v) for k, v in facts)


def incident_page(console: Console, ctx: Ctx) -> Response:
    inc = actions.incident(console.store, int(ctx.params["id"]))
    if inc is None:
        return console.error_page(ctx, 404, ctx.w["not_found"])
    config = actions.agent_config_file(console.store, inc["agent"])
    live = html("{0}{1}", render_all(inc["evidence"], ctx.w, console.tz, inc["agent"], config),
                _timeline(console, ctx, inc["id"]))
    if ctx.request.query.get("part"):
        return console.respond(ctx, live, full=False)
    title = incident_title(facts(inc), ctx.w)
    body = html('<p class="crumbs"><a href="/">← {0}</a></p><h1 class="incident-title">#{1} {2}</h1>'
                '<div class="incident-head"><dl class="facts card">{3}</dl><section class="card actions"><h2>{4}</h2>'
                '{5}</section></div><div class="live" data-live="/incidents/{1}?part=1">{6}</div>',
                ctx.w["incidents"], inc["id"], title, _facts(console, ctx, inc), ctx.w["actions"],
                _action_forms(console, ctx, inc), live)
    return console.respond(ctx, body, title=f"#{inc['id']} {title}")


def _do(console: Console, action: str, incident_id: int, user: str, text: str) -> dict[str, Any]:
    if action == "acknowledge":
        return actions.acknowledge(console.store, incident_id, user)
    if action == "resolve":
        return actions.resolve(console.store, incident_id, user)
    if action == "comment":
        return actions.comment(console.store, incident_id, user, text)
    return actions.rebaseline(console.store, console.app.hooks.get("rebaseline"), incident_id, user)


def incident_action(console: Console, ctx: Ctx) -> Response:
    """A form button: do it, then back to the incident page with a message (or an error page)."""
    incident_id, action = int(ctx.params["id"]), ctx.params["action"]
    try:
        _do(console, action, incident_id, ctx.user, ctx.form.get("text", ""))
    except actions.ActionError as exc:
        message = ctx.w["err_empty_comment"] if action == "comment" and exc.status == 400 else exc.reason
        return console.error_page(ctx, exc.status, message)
    return console.redirect(ctx, f"/incidents/{incident_id}?msg={ACTION_MESSAGES[action]}")


def api_incident(console: Console, ctx: Ctx) -> Response:
    incident_id = int(ctx.params["id"])
    inc = actions.incident(console.store, incident_id)
    if inc is None:
        return Response.error(404, f"no incident {incident_id}")
    return Response.json({"incident": inc, "timeline": actions.timeline(console.store, incident_id)})


def api_action(console: Console, ctx: Ctx) -> Response:
    incident_id, action = int(ctx.params["id"]), ctx.params["action"]
    text = ""
    if action == "comment":
        try:
            body = json.loads(ctx.request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return Response.error(400, 'body must be JSON: {"text": "..."}')
        text = body.get("text", "") if isinstance(body, dict) and isinstance(body.get("text", ""), str) else ""
    try:
        inc = _do(console, action, incident_id, ctx.user, text)
    except actions.ActionError as exc:
        return Response.error(exc.status, exc.reason)
    return Response.json({"incident": inc, "timeline": actions.timeline(console.store, incident_id)})


def install(console: Console, route: Any) -> None:
    def bind(fn: Any) -> Any:
        return lambda ctx: fn(console, ctx)

    acts = "(?P<action>acknowledge|resolve|comment|rebaseline)"
    route("GET", "/")(console.page("viewer")(bind(incident_list)))
    route("GET", "/incidents")(console.page("viewer")(bind(incident_list)))
    route("GET", "/incidents/(?P<id>[0-9]{1,12})")(console.page("viewer")(bind(incident_page)))
    route("POST", f"/incidents/(?P<id>[0-9]{{1,12}})/{acts}")(console.page("admin")(bind(incident_action)))
    route("GET", "/api/v1/incidents/(?P<id>[0-9]{1,12})")(console.api("viewer")(bind(api_incident)))
    route("POST", f"/api/v1/incidents/(?P<id>[0-9]{{1,12}})/{acts}")(console.api("admin")(bind(api_action)))
