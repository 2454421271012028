"""An incident's evidence as an analyst reads it: defacement views with a side-by-side text diff, file
changes with their diff and restore hint, traffic anomalies with top sources, ports and rates.

Everything comes from the evidence JSON the collector stored (see collector/incidents.py); every value
is escaped by `html()`.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

from govwatch.collector.console.render import Safe, clock_time, esc, html, join
from govwatch.collector.console.screenshots import screenshots

AGENT_CONFIG = "/etc/govwatch/agent.yml"  # where deploy/govwatch-agent.service reads it
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
    return join(html('<span class="{0}">{1}</span>', css, item) for item in items or [])


def _defacement_view(view: dict[str, Any], w: dict[str, str], tz: Any) -> Safe:
    reasons = join(html("<li>{0}</li>", r) for r in view.get("reasons") or [])
    url, state = view.get("url") or "", str(view.get("state") or "")
    return html(
        '<article class="card view {state}"><h3>{source} · {view} · <span class="badge {state}">{state_w}</span> '
        '<time>{ts}</time></h3><dl class="facts"><dt>{t_score}</dt><dd>{score}</dd><dt>{t_url}</dt><dd>{url}</dd>'
        '<dt>{t_title}</dt><dd>{title}</dd></dl>{shots}<h4>{t_reasons}</h4><ul class="reasons">{reasons}</ul>'
        '<h4>{t_domains}</h4><p>{domains}</p>{diff}</article>', shots=screenshots(view, w),
        state=state, state_w=w[state] if state in ("defaced", "clean") else state,
        source=view.get("source") or "", view=view.get("view") or "",
        ts=clock_time(view.get("ts"), tz), t_score=w["score"], score=view.get("score"), t_url=w["url"], url=url,
        t_title=w["page_title"], title=view.get("title") or "", t_reasons=w["reasons"], reasons=reasons,
        t_domains=w["new_domains"], domains=_chips(view.get("new_domains") or [], "chip warn") or "—",
        diff=diff_table(view.get("diff"), w))


def defacement_views(views: list[dict[str, Any]], w: dict[str, str], tz: Any) -> Safe:
    """Newest view first; the newest defaced view open, the others folded."""
    ordered = sorted(views, key=lambda v: v.get("ts") or 0, reverse=True)
    parts = []
    for index, view in enumerate(ordered):
        card = _defacement_view(view, w, tz)
        parts.append(card if index == 0 else html("<details><summary>{0} · {1} · {2}</summary>{3}</details>",
                                                  clock_time(view.get("ts"), tz), view.get("source"),
                                                  view.get("state"), card))
    return html('<section class="evidence"><h2>{0}</h2>{1}</section>', w["evidence"], join(parts))


def fim_changes(items: list[dict[str, Any]], w: dict[str, str], tz: Any, agent: str | None) -> Safe:
    cards = []
    for item in sorted(items, key=lambda i: i.get("ts") or 0, reverse=True):
        path = item.get("path") or ""
        if item.get("known_good"):
            hint = html('<p class="ok">{0}</p><pre class="cmd">govwatch fim restore -c {1} {2}</pre>',
                        w["known_good_yes"], AGENT_CONFIG, _shell_quote(path))
        else:
            hint = html('<p class="warn">{0}</p>', w["known_good_no"])
        cards.append(html(
            '<article class="card fim"><h3><span class="badge sev-{sev}">{sev}</span> <code>{path}</code></h3>'
            '<dl class="facts"><dt>{t_change}</dt><dd>{change}</dd><dt>{t_agent}</dt><dd>{agent}</dd>'
            '<dt>{t_rules}</dt><dd>{rules}</dd><dt>{t_when}</dt><dd>{when}</dd></dl><p>{summary}</p>'
            '<h4>{t_known}</h4>{hint}{diff}</article>',
            sev=item.get("severity") or "", path=path, t_change=w["change"], change=item.get("change") or "",
            t_agent=w["agent"], agent=agent or "", t_rules=w["rules"], rules=_chips(item.get("rules") or []),
            t_when=w["updated"], when=clock_time(item.get("ts"), tz), summary=item.get("summary") or "",
            t_known=w["known_good"], hint=hint, diff=unified(item.get("diff"))))
    return html('<section class="evidence"><h2>{0}</h2>{1}</section>', w["fim_changes"], join(cards))


def _shell_quote(path: str) -> str:
    import shlex

    return shlex.quote(path)


def problems(items: list[dict[str, Any]], w: dict[str, str], tz: Any) -> Safe:
    rows = join(html("<tr><td>{0}</td><td><code>{1}</code></td><td>{2}</td></tr>", clock_time(i.get("ts"), tz),
                     i.get("path") or "", i.get("detail") or "") for i in items)
    return html('<section class="evidence"><h2>{0}</h2><table class="grid"><tr><th>{1}</th><th>{2}</th><th>{3}</th>'
                "</tr>{4}</table></section>", w["problems"], w["updated"], w["path"], w["detail"], rows)


def render_all(evidence: dict[str, Any], w: dict[str, str], tz: Any, agent: str | None) -> Safe:
    """Every evidence section present, whatever the incident's kind (a defacement may carry FIM changes)."""
    from govwatch.collector.console.traffic import anomalies

    parts = []
    if evidence.get("views"):
        parts.append(defacement_views(evidence["views"], w, tz))
    if evidence.get("fim"):
        parts.append(fim_changes(evidence["fim"], w, tz, agent))
    if evidence.get("problems"):
        parts.append(problems(evidence["problems"], w, tz))
    if evidence.get("anomalies"):
        parts.append(anomalies(evidence["anomalies"], w, tz))
    return join(parts) if parts else esc("—")
