"""Turn a Report into one self-contained HTML page (inline CSS and SVG), and that page into a PDF.

Every word comes from the catalogue of the report's language (report.i18n); every figure is written in
that language's digits. Values from collector.yml or the probes (site names, reasons, causes) are escaped.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from html import escape
from importlib import resources
from string import Template

from govwatch.collector.console.titles import facts, incident_title
from govwatch.collector.report import charts
from govwatch.collector.report.data import MAX_LISTED, Report, csv_rows
from govwatch.collector.report.i18n import Words, month_title, pct, t, words
from govwatch.collector.uptime import SiteAccount
from govwatch.errors import GovwatchError

KHMER_PAGES = ('@page { @bottom-right { content: counter(page, khmer) " / " counter(pages, khmer); '
               "font-size: 8pt; color: #607d8b; } }\nol.method { list-style-type: khmer; }\n")  # Khmer digits there too


def _template(name: str) -> str:
    return resources.files("govwatch.collector.report").joinpath("templates", name).read_text(encoding="utf-8")


def _table(headers: list[tuple[str, bool]], rows: Iterable[list[str]], css: str = "") -> str:
    """headers: (text, numeric); cells are already escaped HTML."""
    head = "".join(f'<th class="num">{h}</th>' if num else f"<th>{h}</th>" for h, num in headers)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if headers[i][1] else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table class='{css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _verdict(value: float | None, target: float, w: Words) -> str:
    if value is None:
        return f'<span class="muted">{w["report.no_figure"]}</span>'
    met = value >= target
    return f'<span class="{"good" if met else "bad"}">{pct(value, w)} · {t(w, "met" if met else "missed")}</span>'


def _when(ts: float | None, r: Report, w: Words) -> str:
    return "–" if ts is None else w.date_time(ts, r.tz)


def _summary(r: Report, w: Words) -> str:
    rows = [[escape(m.name), w.number(m.sites), _verdict(m.intact, r.target, w), pct(m.availability, w),
             pct(r.target, w), w.duration(m.downtime), w.duration(m.tampered), w.number(m.outages)]
            for m in r.ministries]
    return f"<h2>{t(w, 'summary')}</h2>" + _table(
        [(t(w, "ministry"), False), (t(w, "sites"), True), (t(w, "intact"), True), (t(w, "up_share"), True),
         (t(w, "target"), True), (t(w, "downtime"), True), (t(w, "tampered"), True), (t(w, "outages"), True)], rows)


def _legend(w: Words, r: Report, daily: bool) -> str:
    items = [("good", t(w, "legend_met")), ("bad", t(w, "legend_missed")), ("nodata", t(w, "legend_nodata"))]
    if daily:
        items.append(("future", t(w, "legend_future")))
    items.append(("target", t(w, "legend_target", target=pct(r.target, w))))
    spans = " ".join(f'<span class="key">{charts.swatch(kind)} {escape(text)}</span>' for kind, text in items)
    return f'<p class="legend">{spans} · {t(w, "axis_note")}</p>'


def _charts(r: Report, w: Words) -> str:
    site_rows = [(a.site, r.integrity[a.site].intact) for a in r.accounts]
    return (f"<h2>{t(w, 'chart_daily')}</h2><div class='chart'>"
            f"{charts.daily_chart(r.daily, r.target, r.tz, w.digits)}</div>{_legend(w, r, True)}"
            f"<h2>{t(w, 'chart_sites')}</h2><div class='chart'>{charts.site_bars(site_rows, r.target, w.digits)}"
            f"</div>{_legend(w, r, False)}")


def _cert_days(acc: SiteAccount, r: Report, w: Words) -> str:
    if acc.cert_expiry is None:
        return "–"
    days = (acc.cert_expiry - min(r.end, r.generated)) / 86400
    text = w.digits(str(int(days)))
    return f'<span class="bad">{text}</span>' if days < 14 else text


def _site_row(acc: SiteAccount, r: Report, w: Words, security: Counter) -> list[str]:
    integrity = r.integrity[acc.site]
    return [f"<span class='site'>{escape(acc.site)}</span>", escape(acc.ministry or "–"),
            _verdict(integrity.intact, r.target, w), pct(acc.availability, w),
            w.duration(acc.monitored - acc.downtime) if acc.observed else "–", w.duration(acc.downtime),
            w.duration(integrity.tampered_seconds), w.number(len(acc.counted_outages)),
            w.number(security.get(acc.site, 0))]


def _detail_row(acc: SiteAccount, r: Report, w: Words) -> list[str]:
    response = "–" if acc.response_p50 is None else \
        w.digits(f"{acc.response_p50:.2f} / {acc.response_p95:.2f}") + f" {w['report.seconds_unit']}"
    return [f"<span class='site'>{escape(acc.site)}</span>",
            w.duration(float(r.sites.get(acc.site, {}).get("interval", 60.0))),
            w.duration(acc.longest) if acc.counted_outages else "–", w.duration(acc.mttr), response,
            _cert_days(acc, r, w), w.duration(acc.maintenance_seconds) if acc.maintenance else "–",
            w.duration(acc.gap_seconds) if acc.gaps else "–"]


def _site_table(r: Report, w: Words) -> str:
    """Two tables, so each fits an A4 page in either language: the figures, then the details."""
    security = Counter(i["site"] for i in r.incidents if i.get("site"))
    keys = [("site", False), ("ministry", False), ("intact", True), ("up_share", True), ("time_up", True),
            ("downtime", True), ("tampered", True), ("outages", True), ("security", True)]
    figures = _table([(t(w, k), num) for k, num in keys], [_site_row(a, r, w, security) for a in r.accounts],
                     "sites")
    keys = [("site", False), ("interval", True), ("longest", True), ("mttr", True), ("response", True),
            ("cert_days", True), ("maintenance", True), ("gaps", True)]
    details = _table([(t(w, k), num) for k, num in keys], [_detail_row(a, r, w) for a in r.accounts], "sites")
    return f"<h2>{t(w, 'per_site')}</h2>{figures}<h2>{t(w, 'site_details')}</h2>{details}"


def _limited(rows: list[list[str]], w: Words) -> tuple[list[list[str]], str]:
    more = len(rows) - MAX_LISTED
    return rows[:MAX_LISTED], (f'<p class="muted">{t(w, "more", n=more)}</p>' if more > 0 else "")


def _outages(r: Report, w: Words) -> str:
    found = sorted(((o.start, a, o) for a in r.accounts for o in a.outages), key=lambda item: item[0])
    rows = [[escape(a.site), _when(o.start, r, w), _when(o.end, r, w) if o.end else t(w, "ongoing"),
             w.duration((o.end or min(r.end, r.generated)) - o.start), w.duration(o.counted),
             _cause(o.cause, w)] for _, a, o in found]
    if not rows:
        return f"<h2>{t(w, 'incidents')}</h2><p>{t(w, 'none')}</p>"
    rows, more = _limited(rows, w)
    return f"<h2>{t(w, 'incidents')}</h2>" + _table(
        [(t(w, "site"), False), (t(w, "start"), False), (t(w, "end"), False), (t(w, "duration"), True),
         (t(w, "counted"), True), (t(w, "cause"), False)], rows) + more


def _cause(cause: str, w: Words) -> str:
    """A probe's reason for failing: HTTP statuses in words, other (technical, English) causes marked so."""
    match = re.fullmatch(r"HTTP (\d{3})", cause or "")
    if match:
        return escape(w.fmt("http_status", status=int(match.group(1))))
    return f'<span lang="en">{escape(cause)}</span>' if cause else "–"


def _scope(scope: str, w: Words) -> str:
    if scope == "all sites":
        return t(w, "scope_all")
    if scope.startswith("ministry "):
        return escape(t(w, "scope_ministry", name=scope[len("ministry "):]))
    return escape(scope)


def _maintenance(r: Report, w: Words) -> str:
    seen: dict[tuple, set[str]] = {}
    for acc in r.accounts:
        for m in acc.maintenance:
            seen.setdefault((m.start, m.end, m.reason, m.scope), set()).add(acc.site)
    rows = [[_scope(scope, w), _when(start, r, w), _when(end, r, w), w.duration(end - start),
             t(w, "planned_maintenance") if reason == "planned maintenance" else escape(reason)]
            for (start, end, reason, scope) in sorted(seen)]
    if not rows:
        return f"<h2>{t(w, 'maintenance_windows')}</h2><p>{t(w, 'none')}</p>"
    body = _table([(t(w, "scope"), False), (t(w, "start"), False), (t(w, "end"), False),
                   (t(w, "duration"), True), (t(w, "reason"), False)], rows)
    return f"<h2>{t(w, 'maintenance_windows')}</h2>{body}"


def _security(r: Report, w: Words) -> str:
    parts = [f"<h2>{t(w, 'security')}</h2>"]
    if r.event_counts:
        parts.append(_table([(t(w, "events_received"), False), (t(w, "count"), True)],
                            [[escape(w.kind(kind)), w.number(n)] for kind, n in sorted(r.event_counts.items())]))
    if not r.incidents:
        return "".join(parts) + f"<p>{t(w, 'none')}</p>"
    decoded = [_with_evidence(i) for i in r.incidents]   # each incident's evidence JSON read once
    rows = [[_when(i["opened"], r, w), escape(w.kind(i["kind"])), escape(w.severity(i["severity"])),
             escape(i.get("site") or "–"), escape(incident_title(i, w)), escape(w.status(i["status"])),
             _evidence_links(i, r, w)]
            for i in decoded]
    rows, more = _limited(rows, w)
    parts.append(_table([(t(w, "opened"), False), (t(w, "kind"), False), (t(w, "severity"), False),
                         (t(w, "site"), False), (t(w, "title_col"), False), (t(w, "status"), False),
                         (t(w, "evidence"), False)], rows))
    return "".join(parts) + more


def _screenshot(incident: dict) -> str | None:
    """The rendered view's picture of the incident (the latest view that has one), if any; `incident` as
    `_with_evidence` gives it (evidence decoded)."""
    views = incident.get("evidence", {}).get("views") or []
    for view in reversed(views if isinstance(views, list) else []):
        sha = view.get("screenshot") if isinstance(view, dict) else None
        if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha):
            return sha
    return None


def _evidence_links(incident: dict, r: Report, w: Words) -> str:
    """The incident number and its screenshot, as links into the console when `console_url` is set."""
    number, sha = f"#{w.number(int(incident['id']))}", _screenshot(incident)
    if not r.console_url:
        return escape(number) + (f" · {t(w, 'screenshot_link')}" if sha else "")
    base = escape(r.console_url, quote=True)
    cell = f'<a href="{base}/incidents/{int(incident["id"])}">{escape(number)}</a>'
    if sha:
        cell += f' · <a href="{base}/render/shots/{sha}.png">{t(w, "screenshot_link")}</a>'
    return cell


def _with_evidence(incident: dict) -> dict:
    try:
        evidence = json.loads(incident.get("evidence") or "{}")
    except (TypeError, ValueError):
        evidence = {}
    return facts({**incident, "evidence": evidence if isinstance(evidence, dict) else {}})


def _gaps(r: Report, w: Words) -> str:
    found = sorted(((s, a, e) for a in r.accounts for s, e in a.gaps), key=lambda item: item[0])
    rows = [[escape(a.site), _when(s, r, w), _when(e, r, w), w.duration(e - s)] for s, a, e in found]
    if not rows:
        return ""
    rows, more = _limited(rows, w)
    return f"<h2>{t(w, 'data_gaps')}</h2>" + _table(
        [(t(w, "site"), False), (t(w, "from"), False), (t(w, "to"), False), (t(w, "duration"), True)], rows) + more


def _method(r: Report, w: Words) -> str:
    intervals = sorted({float(s.get("interval", 60.0)) for s in r.sites.values()}) or [60.0]
    confirms = sorted({int(s.get("confirm_failures", 3)) for s in r.sites.values()}) or [3]
    values = {"interval": " / ".join(w.duration(i) for i in intervals),
              "confirm": w.digits(" / ".join(map(str, confirms))), "tz": r.tz}
    lines = [w.digits(w[f"report.method_{n}"].format(**values)) for n in (6, 1, 2, 3, 4, 5)]
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f"<h2>{t(w, 'method')}</h2><ol class='method'>{items}</ol>"


def _progress(r: Report, w: Words) -> str:
    if not r.in_progress:
        return ""
    text = t(w, "in_progress", start=_when(r.start, r, w), now=_when(r.generated, r, w))
    return f"<p class='notice'>{escape(text)}</p>"


def render_html(r: Report, lang: str) -> str:
    """The whole report as one HTML document."""
    w = words(lang)
    title = f"{t(w, 'title')} — {month_title(r.year, r.mon, w)}"
    header = (f"<header><h1>{escape(title)}</h1><div class='meta'>{escape(r.organisation)} · "
              f"{escape(t(w, 'generated', time=_when(r.generated, r, w), tz=r.tz))}</div></header>")
    if not r.sites:
        body = f"<p class='notice'>{t(w, 'no_sites')}</p>"
    elif not r.has_data:
        body = f"<p class='notice'>{t(w, 'no_data')}</p>" + _site_table(r, w)
    else:
        body = _summary(r, w) + _charts(r, w) + _site_table(r, w) + _outages(r, w)
    body = _progress(r, w) + body + _maintenance(r, w) + _security(r, w) + _gaps(r, w) + _method(r, w)
    css = _template("report.css") + (KHMER_PAGES if lang == "km" else "")
    return Template(_template("report.html")).substitute(lang=lang, title=escape(title), css=css, body=header + body)


def write_pdf(html: str, path: str) -> None:
    """Render with WeasyPrint (Pango shapes Khmer; needs the Debian fonts-khmeros font)."""
    for name in ("weasyprint", "weasyprint.progress", "fontTools"):  # its import already logs progress
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        raise GovwatchError(f"PDF output needs WeasyPrint and Pango (pip install weasyprint; apt install "
                            f"libpango-1.0-0 libpangoft2-1.0-0 fonts-khmeros): {exc}") from None
    try:
        HTML(string=html).write_pdf(path)
    except OSError as exc:
        raise GovwatchError(f"-o {path}: {exc.strerror or exc}") from None


def write_csv(r: Report, path: str) -> None:
    rows = csv_rows(r)
    fields = list(rows[0]) if rows else ["month", "ministry", "site", "available_intact_percent"]
    try:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise GovwatchError(f"{path}: cannot write CSV: {exc.strerror}") from None
