"""An incident's evidence as an analyst reads it: defacement views with a side-by-side text diff, file
changes with their diff and restore hint, traffic anomalies with top sources, ports and rates.

Everything comes from the evidence JSON the collector stored (see collector/incidents.py); every value
is escaped by `html()`.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

from govwatch.collector import badrows
from govwatch.collector.console.reasons import translate
from govwatch.collector.console.render import Safe, clock_time, esc, html, join
from govwatch.collector.console.screenshots import screenshots

AGENT_CONFIG = "/etc/govwatch/agent.yml"  # where deploy/govwatch-agent.service reads it (when no heartbeat says)
Row = tuple[str | None, str, str | None, str]  # left text, left class, right text, right class


def side_by_side(diff: str) -> list[Row]:
    """Rows of (removed/context, added/context) from a unified diff; hunk headers become `gap` rows."""
    rows: list[Row] = []
    removed: list[str] = []
    added: list[str] = []

    def flush() -> None:
        for left, right in zip_longest(removed, added):
            rows.append((left, "del" if left is not None else "empty", right, "add" if right is not None else "empty"))
        removed.clear()
        added.clear()

    for line in diff.splitlines():
        if line.startswith(("--- ", "+++ ")) and not rows and not removed and not added:
            continue  # file headers
        if line.startswith("-"):
            removed.append(line[1:])
        elif line.startswith("+"):
            added.append(line[1:])
        else:
            flush()
            if line.startswith("@@") or line.startswith("..."):
                rows.append((line, "gap", line, "gap"))
            else:
                text = line[1:] if line.startswith(" ") else line
                rows.append((text, "ctx", text, "ctx"))
    flush()
    return rows


def _cell(text: str | None, css: str, w: dict[str, str]) -> Safe:
    if text is None:
        return Safe('<td class="empty"></td>')
    if text.startswith("[hidden] "):
        return html('<td class="{0}"><span class="tag">{1}</span> {2}</td>', css, w["hidden"], text[9:])
    return html('<td class="{0}">{1}</td>', css, text)


def diff_table(diff: str | None, w: dict[str, str]) -> Safe:
    if not diff:
        return html('<p class="muted">{0}</p>', w["no_diff"])
    body = []
    for left, lcss, right, rcss in side_by_side(diff):
        if lcss == "gap":
            body.append(html('<tr class="gap"><td colspan="2">{0}</td></tr>', left))
        else:
            body.append(html("<tr>{0}{1}</tr>", _cell(left, lcss, w), _cell(right, rcss, w)))
    return html('<div class="scroll"><table class="diff"><caption>{0}</caption><thead><tr><th>{1}</th><th>{2}</th>'
                "</tr></thead><tbody>{3}</tbody></table></div>",
                w["diff_visible_text"], w["known_good_side"], w["now_side"], join(body))


def unified(diff: str | None) -> Safe:
    """A unified diff with each line marked added/removed/hunk, for file contents."""
    if not diff:
        return Safe("")
    lines = []
    for line in diff.splitlines():
        css = "hunk" if line.startswith("@@") else "add" if line.startswith("+") else \
            "del" if line.startswith("-") else "ctx"
        lines.append(html('<span class="{0}">{1}</span>', css, line))
    return html('<pre class="udiff">{0}</pre>', join(lines, "\n"))


def _chips(items: list[Any], css: str = "chip") -> Safe:
    return join(html('<span class="{0}" translate="no">{1}</span>', css, item) for item in items or [])


def _rule_chips(rule_ids: list[Any], w: Any) -> Safe:
    """Rule titles in the page's language, the rule id on hover."""
    return join(html('<span class="chip" title="{0}">{1}</span>', w.fmt("rule_id_hint", id=str(r)),
                     w.rule_title(str(r)) if w.has(f"rule.{r}") else html("<code>{0}</code>", r))
                for r in rule_ids or [])


def _from_agent(text: Any, label_key: str, w: Any) -> Safe:
    """Free text an agent wrote (English): marked lang="en", labelled as such on a Khmer page."""
    if not text:
        return Safe("")
    label = html('<span class="muted small">{0}</span> ', w[label_key]) if w.lang != "en" else Safe("")
    return html('{0}<span lang="en">{1}</span>', label, humane(str(text), w))


def humane(text: str, w: Any) -> str:
    """Python values a rule's output template let through ("upload folder: True") in words."""
    for value, word in ((": True)", ": " + w["yes"] + ")"), (": False)", ": " + w["no"] + ")"),
                        (": None)", ": —)")):
        text = text.replace(value, word)
    return text


def _defacement_view(view: dict[str, Any], w: dict[str, str], tz: Any) -> Safe:
    said = [(r, translate(str(r), w)) for r in view.get("reasons") or []]
    reasons = join(html("<li>{0}</li>", mine) if mine is not None else html('<li lang="en">{0}</li>', r)
                   for r, mine in said)
    if any(mine is None for _, mine in said) and w.lang != "en":
        reasons = html('<li class="muted small">{0}</li>{1}', w["reasons_from_agent"], reasons)
    url, state = view.get("url") or "", str(view.get("state") or "")
    return html(
        '<article class="card view {state}"><h3>{source} · {view} · <span class="badge {state}">{state_w}</span> '
        '<time>{ts}</time></h3><dl class="facts"><dt>{t_score}</dt><dd>{score}</dd><dt>{t_url}</dt><dd>{url}</dd>'
        '<dt>{t_title}</dt><dd>{title}</dd></dl>{shots}<h4>{t_reasons}</h4><ul class="reasons">{reasons}</ul>'
        '<h4>{t_domains}</h4><p>{domains}</p>{diff}</article>', shots=screenshots(view, w),
        state=state, state_w=w[state] if state in ("defaced", "clean") else state,
        source=_source(view.get("source"), w), view=_view_name(view.get("view"), w),
        ts=clock_time(view.get("ts"), tz, w), t_score=w["score"], score=_score(view.get("score"), w),
        t_url=w["url"], url=url,
        t_title=w["page_title"], title=html('<span translate="no">{0}</span>', view.get("title") or ""),
        t_reasons=w["reasons"], reasons=reasons,
        t_domains=w["new_domains"], domains=_chips(view.get("new_domains") or [], "chip warn") or "—",
        diff=diff_table(view.get("diff"), w))


def defacement_views(views: list[dict[str, Any]], w: dict[str, str], tz: Any) -> Safe:
    """Newest view first; the newest defaced view open, the others folded."""
    ordered = sorted(views, key=lambda v: v.get("ts") or 0, reverse=True)
    parts = []
    for index, view in enumerate(ordered):
        card = _defacement_view(view, w, tz)
        state = str(view.get("state") or "")
        parts.append(card if index == 0 else html("<details><summary>{0} · {1} · {2}</summary>{3}</details>",
                                                  clock_time(view.get("ts"), tz, w), _source(view.get("source"), w),
                                                  w[state] if state in ("defaced", "clean") else state, card))
    return html('<section class="evidence"><h2>{0}</h2>{1}</section>', w["evidence"], join(parts))


def remedy(item: dict[str, Any], w: dict[str, str], config: str | None) -> Safe:
    """What to run on the agent: a new file is quarantined (a web shell is removed, not restored), a changed
    or deleted file is restored from its known-good copy; `config` is the agent's own agent.yml path."""
    path, cfg = _shell_quote(str(item.get("path") or "")), _shell_quote(config or AGENT_CONFIG)
    if item.get("change") == "created":
        return html('<p class="warn">{0}</p><pre class="cmd">govwatch fim quarantine -c {1} {2}</pre>',
                    w["created_quarantine"], cfg, path)
    if item.get("known_good"):
        return html('<p class="ok">{0}</p><pre class="cmd">govwatch fim restore -c {1} {2}</pre>',
                    w["known_good_yes"], cfg, path)
    return html('<p class="warn">{0}</p>', w["known_good_no"])


def fim_changes(items: list[dict[str, Any]], w: dict[str, str], tz: Any, agent: str | None,
                config: str | None = None) -> Safe:
    cards = []
    for item in sorted(items, key=lambda i: i.get("ts") or 0, reverse=True):
        path = item.get("path") or ""
        hint = remedy(item, w, config)
        cards.append(html(
            '<article class="card fim"><h3><span class="badge sev-{sev}">{sev_w}</span> <code>{path}</code></h3>'
            '<dl class="facts"><dt>{t_change}</dt><dd>{change}</dd><dt>{t_agent}</dt><dd translate="no">{agent}</dd>'
            '<dt>{t_rules}</dt><dd>{rules}</dd><dt>{t_when}</dt><dd>{when}</dd></dl><p>{summary}</p>'
            '<h4>{t_known}</h4>{hint}{diff}</article>',
            sev=item.get("severity") or "", sev_w=w.severity(str(item.get("severity") or "")), path=path,
            t_change=w["change"], change=w.change(str(item.get("change") or "")),
            t_agent=w["agent"], agent=agent or "", t_rules=w["rules"], rules=_rule_chips(item.get("rules") or [], w),
            t_when=w["updated"], when=clock_time(item.get("ts"), tz, w),
            summary=_from_agent(item.get("summary"), "summary_from_agent", w),
            t_known=w["known_good"], hint=hint, diff=unified(item.get("diff"))))
    return html('<section class="evidence"><h2>{0}</h2>{1}</section>', w["fim_changes"], join(cards))


def _shell_quote(path: str) -> str:
    import shlex

    return shlex.quote(path)


def problems(items: list[dict[str, Any]], w: dict[str, str], tz: Any) -> Safe:
    rows = join(html('<tr><td>{0}</td><td><code>{1}</code></td><td lang="en">{2}</td></tr>',
                     clock_time(i.get("ts"), tz, w), i.get("path") or "", i.get("detail") or "") for i in items)
    return html('<section class="evidence"><h2>{0}</h2><table class="grid"><tr><th>{1}</th><th>{2}</th><th>{3}</th>'
                "</tr>{4}</table></section>", w["problems"], w["updated"], w["path"], w["detail"], rows)


def outage(items: list[dict[str, Any]], w: dict[str, str], tz: Any) -> Safe:
    """The probes behind a site_down incident: when it failed, in which phase, with which error."""
    rows = join(html("<tr><td>{0}</td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
                     clock_time(i.get("ts"), tz, w), w["up"] if i.get("up") else w["down"], i.get("phase") or "—",
                     i.get("error") or i.get("status") or "", clock_time(i.get("since"), tz, w)) for i in items)
    return html('<section class="evidence"><h2>{0}</h2><table class="grid"><tr><th>{1}</th><th>{2}</th><th>{3}</th>'
                "<th>{4}</th><th>{5}</th></tr>{6}</table></section>", w["evidence"], w["updated"], w["status"],
                w["phase"], w["error"], w["since"], rows)


def _score(score: Any, w: Any) -> str:
    return w.digits(f"{score:.2f}") if isinstance(score, int | float) and not isinstance(score, bool) else str(score)


def _source(source: Any, w: Any) -> str:
    return w["source_outside"] if source == "outside" else str(source or "")


def _view_name(view: Any, w: Any) -> str:
    key = f"view_{view}"
    return w[key] if w.has(key) else str(view or "")


def render_all(evidence: dict[str, Any], w: dict[str, str], tz: Any, agent: str | None,
               config: str | None = None) -> Safe:
    """Every evidence section present, whatever the incident's kind (a defacement may carry FIM changes)."""
    from govwatch.collector.console.logs import log_lines, source_traffic
    from govwatch.collector.console.traffic import anomalies

    sections = (("views", lambda items: defacement_views(items, w, tz)),
                ("fim", lambda items: fim_changes(items, w, tz, agent, config)),
                ("problems", lambda items: problems(items, w, tz)),
                ("anomalies", lambda items: anomalies(items, w, tz)),
                ("probes", lambda items: outage(items, w, tz)),
                ("requests", lambda items: log_lines(items, w, tz)),
                ("findings", lambda items: log_lines(items, w, tz)),
                ("traffic", lambda items: source_traffic(items, w, tz)))
    parts = [_guarded(render, evidence[key], agent, key) for key, render in sections if evidence.get(key)]
    return join(parts) if parts else esc("—")


def _guarded(render: Any, items: list[dict[str, Any]], agent: str | None, section: str) -> Safe:
    """Render a section; if a stored item has an unexpected shape, render the others and count it skipped."""
    try:
        return render(items)
    except Exception:  # whatever is stored, the page renders
        good = []
        for item in items:
            try:
                render([item])
                good.append(item)
            except Exception as exc:
                badrows.note(agent, f"evidence.{section}", exc)
        try:
            return render(good)
        except Exception as exc:
            badrows.note(agent, f"evidence.{section}", exc)
            return Safe("")
