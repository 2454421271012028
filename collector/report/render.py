"""Turn a Report into one self-contained HTML page (inline CSS and SVG), and that page into a PDF."""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterable
from html import escape
from importlib import resources
from string import Template

from govwatch.collector.report import charts
from govwatch.collector.report.data import MAX_LISTED, Report, csv_rows
from govwatch.collector.report.i18n import METHOD, duration, month_title, pct, severity, t, when
from govwatch.collector.uptime import SiteAccount
from govwatch.durations import format_duration
from govwatch.errors import GovwatchError


def _template(name: str) -> str:
    return resources.files("govwatch.collector.report").joinpath("templates", name).read_text(encoding="utf-8")


def _table(headers: list[tuple[str, bool]], rows: Iterable[list[str]], css: str = "") -> str:
    """headers: (text, numeric); cells are already escaped HTML."""
    head = "".join(f'<th class="num">{h}</th>' if num else f"<th>{h}</th>" for h, num in headers)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if headers[i][1] else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table class='{css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _verdict(value: float | None, target: float, lang: str) -> str:
    if value is None:
        return f'<span class="muted">{t("no_figure", lang)}</span>'
    met = value >= target
    return f'<span class="{"good" if met else "bad"}">{pct(value, lang)} · {t("met" if met else "missed", lang)}</span>'


def _summary(r: Report, lang: str) -> str:
    rows = [[escape(m.name), str(m.sites), _verdict(m.availability, r.target, lang), pct(r.target, lang),
             duration(m.downtime, lang), str(m.outages)] for m in r.ministries]
    return f"<h2>{t('summary', lang)}</h2>" + _table(
        [(t("ministry", lang), False), (t("sites", lang), True), (t("availability", lang), True),
         (t("target", lang), True), (t("downtime", lang), True), (t("outages", lang), True)], rows)


def _charts(r: Report, lang: str) -> str:
    legend = f'<p class="legend">{t("legend_target", lang, target=pct(r.target, lang))}</p>'
    site_rows = [(a.site, a.availability) for a in r.accounts]
    return (f"<h2>{t('chart_daily', lang)}</h2><div class='chart'>{charts.daily_chart(r.daily, r.target, r.tz)}"
            f"</div>{legend}<h2>{t('chart_sites', lang)}</h2><div class='chart'>"
            f"{charts.site_bars(site_rows, r.target)}</div>{legend}")


def _cert_days(acc: SiteAccount, r: Report, lang: str) -> str:
    if acc.cert_expiry is None:
        return "–"
    days = (acc.cert_expiry - min(r.end, r.generated)) / 86400
    text = f"{int(days)}" if days >= 0 else f"{int(days)}"
    return f'<span class="bad">{text}</span>' if days < 14 else text


def _site_table(r: Report, lang: str) -> str:
    security = Counter(i["site"] for i in r.incidents if i.get("site"))
    rows = []
    for acc in r.accounts:
        response = "–" if acc.response_p50 is None else f"{acc.response_p50:.2f} / {acc.response_p95:.2f} s"
        interval = format_duration(float(r.sites.get(acc.site, {}).get("interval", 60.0)))
        name = f"<span class='site'>{escape(acc.site)}</span> <span class='muted'>({interval})</span>"
        rows.append([name, escape(acc.ministry or "–"),
                     _verdict(acc.availability, r.target, lang), duration(acc.downtime, lang),
                     str(len(acc.counted_outages)), duration(acc.longest, lang) if acc.counted_outages else "–",
                     duration(acc.mttr, lang), str(security.get(acc.site, 0)), response, _cert_days(acc, r, lang),
                     duration(acc.maintenance_seconds, lang) if acc.maintenance else "–",
                     duration(acc.gap_seconds, lang) if acc.gaps else "–"])
    return f"<h2>{t('per_site', lang)}</h2>" + _table(
        [(t("site", lang), False), (t("ministry", lang), False), (t("availability", lang), True),
         (t("downtime", lang), True), (t("outages", lang), True), (t("longest", lang), True),
         (t("mttr", lang), True), (t("security", lang), True), (t("response", lang), True),
         (t("cert_days", lang), True), (t("maintenance", lang), True), (t("gaps", lang), True)], rows, "sites")


def _limited(rows: list[list[str]], lang: str) -> tuple[list[list[str]], str]:
    more = len(rows) - MAX_LISTED
    return rows[:MAX_LISTED], (f'<p class="muted">{t("more", lang, n=more)}</p>' if more > 0 else "")


def _outages(r: Report, lang: str) -> str:
    rows = [[escape(a.site), when(o.start, r.tz), when(o.end, r.tz) if o.end else t("ongoing", lang),
             duration((o.end or min(r.end, r.generated)) - o.start, lang), duration(o.counted, lang),
             escape(o.cause or "–")]
            for a in r.accounts for o in a.outages]
    rows.sort(key=lambda row: row[1])
    if not rows:
        return f"<h2>{t('incidents', lang)}</h2><p>{t('none', lang)}</p>"
    rows, more = _limited(rows, lang)
    return f"<h2>{t('incidents', lang)}</h2>" + _table(
        [(t("site", lang), False), (t("start", lang), False), (t("end", lang), False), (t("duration", lang), True),
         (t("counted", lang), True), (t("cause", lang), False)], rows) + more


def _maintenance(r: Report, lang: str) -> str:
    seen: dict[tuple, set[str]] = {}
    for acc in r.accounts:
        for w in acc.maintenance:
            seen.setdefault((w.start, w.end, w.reason, w.scope), set()).add(acc.site)
    rows = [[escape(scope), when(start, r.tz), when(end, r.tz), duration(end - start, lang), escape(reason)]
            for (start, end, reason, scope) in sorted(seen)]
    if not rows:
        return f"<h2>{t('maintenance_windows', lang)}</h2><p>{t('none', lang)}</p>"
    body = _table([(t("scope", lang), False), (t("start", lang), False), (t("end", lang), False),
                   (t("duration", lang), True), (t("reason", lang), False)], rows)
    return f"<h2>{t('maintenance_windows', lang)}</h2>{body}"


def _security(r: Report, lang: str) -> str:
    parts = [f"<h2>{t('security', lang)}</h2>"]
    if r.event_counts:
        parts.append(_table([(t("events_received", lang), False), (t("count", lang), True)],
                            [[escape(kind), str(n)] for kind, n in sorted(r.event_counts.items())]))
    if not r.incidents:
        return "".join(parts) + f"<p>{t('none', lang)}</p>"
    rows = [[when(i["opened"], r.tz), escape(i["kind"]), escape(severity(i["severity"], lang)),
             escape(i.get("site") or i.get("agent") or "–"), escape(i["title"]), escape(i["status"])]
            for i in r.incidents]
    rows, more = _limited(rows, lang)
    parts.append(_table([(t("opened", lang), False), (t("kind", lang), False), (t("severity", lang), False),
                         (t("site", lang), False), (t("title_col", lang), False), (t("status", lang), False)], rows))
    return "".join(parts) + more


def _gaps(r: Report, lang: str) -> str:
    rows = [[escape(a.site), when(s, r.tz), when(e, r.tz), duration(e - s, lang)]
            for a in r.accounts for s, e in a.gaps]
    if not rows:
        return ""
    rows, more = _limited(sorted(rows, key=lambda row: row[1]), lang)
    return f"<h2>{t('data_gaps', lang)}</h2>" + _table(
        [(t("site", lang), False), (t("from", lang), False), (t("to", lang), False), (t("duration", lang), True)],
        rows) + more


def _method(r: Report, lang: str) -> str:
    intervals = sorted({float(s.get("interval", 60.0)) for s in r.sites.values()}) or [60.0]
    confirms = sorted({int(s.get("confirm_failures", 3)) for s in r.sites.values()}) or [3]
    values = {"interval": " / ".join(format_duration(i) for i in intervals),
              "confirm": " / ".join(map(str, confirms)), "tz": r.tz}
    items = "".join(f"<li>{escape(line.format(**values))}</li>" for line in METHOD[lang])
    return f"<h2>{t('method', lang)}</h2><ol class='method'>{items}</ol>"


def render_html(r: Report, lang: str) -> str:
    """The whole report as one HTML document."""
    title = f"{t('title', lang)} — {month_title(r.year, r.mon, lang)}"
    header = (f"<header><h1>{escape(title)}</h1><div class='meta'>{escape(r.organisation)} · "
              f"{t('generated', lang, time=when(r.generated, r.tz), tz=escape(r.tz))}</div></header>")
    if not r.sites:
        body = f"<p class='notice'>{t('no_sites', lang)}</p>"
    elif not r.has_data:
        body = f"<p class='notice'>{t('no_data', lang)}</p>" + _site_table(r, lang)
    else:
        body = _summary(r, lang) + _charts(r, lang) + _site_table(r, lang) + _outages(r, lang)
    body += _maintenance(r, lang) + _security(r, lang) + _gaps(r, lang) + _method(r, lang)
    return Template(_template("report.html")).substitute(
        lang=lang, title=escape(title), css=_template("report.css"), body=header + body)


def write_pdf(html: str, path: str) -> None:
    """Render with WeasyPrint (Pango shapes Khmer; needs the Debian fonts-khmeros font)."""
    for name in ("weasyprint", "weasyprint.progress", "fontTools"):  # its import already logs progress
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        raise GovwatchError(f"PDF output needs WeasyPrint and Pango (pip install weasyprint; apt install "
                            f"libpango-1.0-0 libpangoft2-1.0-0 fonts-khmeros): {exc}") from None
    HTML(string=html).write_pdf(path)


def write_csv(r: Report, path: str) -> None:
    rows = csv_rows(r)
    fields = list(rows[0]) if rows else ["month", "ministry", "site", "availability_percent"]
    try:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise GovwatchError(f"{path}: cannot write CSV: {exc.strerror}") from None
