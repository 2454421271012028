"""The weekly digest for managers: the last seven days in a few lines, in the recipient's language.

Built by the same accounting as the monthly report (data.build_period), so the two never disagree:
sites below the target on "available and intact", incidents opened / resolved / still open, and the
most serious ones. Plain text for e-mail bodies and Telegram messages (no markup to break), and a small
HTML version with inline styles only (mail clients drop style sheets).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from govwatch.collector.console.titles import incident_title
from govwatch.collector.report.data import Report, build_period
from govwatch.collector.report.i18n import Words, pct, words
from govwatch.collector.report.render import _with_evidence
from govwatch.errors import GovwatchError
from govwatch.events import SEVERITY_RANK

TOP = 5


@dataclass
class Digest:
    """One week's figures."""

    report: Report
    below: list[tuple[str, float | None, float, float]]  # site, intact %, downtime s, tampered s
    overall: float | None
    opened: list[dict[str, Any]]
    closed: int
    still_open: int


def week_bounds(week_ending: str | None, tz: str, now: float) -> tuple[float, float]:
    """[first day 00:00, day after the last 00:00) of the seven days ending `week_ending` (default yesterday)."""
    zone = ZoneInfo(tz)
    if week_ending is None:
        last = datetime.fromtimestamp(now, zone).date() - timedelta(days=1)
    else:
        try:
            last = date.fromisoformat(week_ending)
        except ValueError:
            raise GovwatchError(f"--week-ending: expected YYYY-MM-DD (got {week_ending!r})") from None
    start = datetime.combine(last - timedelta(days=6), datetime.min.time(), zone).timestamp()
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone).timestamp()
    if start > now:
        raise GovwatchError(f"--week-ending {week_ending}: that week has not started yet")
    return start, end


def build_digest(cfg: dict[str, Any], week_ending: str | None = None, now: float | None = None) -> Digest:
    now = time.time() if now is None else now
    tz = cfg.get("report", {}).get("timezone", "Asia/Phnom_Penh")
    start, end = week_bounds(week_ending, tz, now)
    r = build_period(cfg, start, end, now)
    below = [(a.site, r.integrity[a.site].intact, a.downtime, r.integrity[a.site].tampered_seconds)
             for a in r.accounts if r.integrity[a.site].intact is not None and r.integrity[a.site].intact < r.target]
    monitored = sum(i.monitored for i in r.integrity.values())
    bad = sum(i.not_intact_seconds for i in r.integrity.values())
    opened = [i for i in r.incidents if start <= i["opened"] < end]
    opened.sort(key=lambda i: (-SEVERITY_RANK.get(i["severity"], 0), i["opened"]))
    closed = sum(1 for i in r.incidents if i["resolved"] is not None and start <= i["resolved"] < end)
    still = sum(1 for i in r.incidents if i["resolved"] is None or i["resolved"] >= end)
    return Digest(r, below, None if monitored <= 0 else 100.0 * (1 - bad / monitored), opened, closed, still)


def _lines(d: Digest, w: Words) -> tuple[str, list[tuple[str, list[str]]]]:
    """(heading, [(section title, lines)]) shared by the text and the HTML forms."""
    r = d.report
    last_day = r.end - 86400 / 2
    period = w.fmt("digest.period", start=w.date(r.start, r.tz), end=w.date(last_day, r.tz), tz=r.tz)
    heading = f"{w['digest.title']} · {period}"
    if not r.sites:
        return heading, [("", [w["digest.no_sites"]])]
    sections = [("", [w.fmt("digest.overall", intact=pct(d.overall, w))])]
    target = pct(r.target, w)
    if d.below:
        sections.append((w.fmt("digest.below_target", target=target), [
            w.fmt("digest.site_line", site=site, intact=pct(value, w), down=w.duration(down),
                  tampered=w.duration(tampered)) for site, value, down, tampered in d.below]))
    else:
        sections.append(("", [w.fmt("digest.all_met", target=target)]))
    counts = w.fmt("digest.opened_closed", opened=len(d.opened), closed=d.closed, still=d.still_open)
    sections.append((w["digest.incidents"], [counts]))
    if d.opened:
        sections.append((w["digest.top"], [f"{w.severity(i['severity'])} · {incident_title(_with_evidence(i), w)}"
                                           f" · {w.date_time(i['opened'], r.tz)}" for i in d.opened[:TOP]]))
    else:
        sections.append(("", [w["digest.none"]]))
    sections.append(("", [w["digest.more"]]))
    return heading, sections


def subject(d: Digest, lang: str) -> str:
    w, r = words(lang), d.report
    return w.fmt("digest.subject", start=w.date(r.start, r.tz), end=w.date(r.end - 43200, r.tz))


def digest_text(d: Digest, lang: str) -> str:
    """Plain text: a subject line, then short sections with bullet lines (fits a Telegram message)."""
    heading, sections = _lines(d, words(lang))
    out = [subject(d, lang), "", heading]
    for title, lines in sections:
        out.append("")
        if title:
            out.append(title)
        out.extend(f"• {line}" if title else line for line in lines)
    return "\n".join(out) + "\n"


def digest_html(d: Digest, lang: str) -> str:
    """HTML with inline styles only, for mail clients."""
    heading, sections = _lines(d, words(lang))
    font = "font-family:'Khmer OS','Noto Sans Khmer',sans-serif" if lang == "km" else "font-family:sans-serif"
    parts = [f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(subject(d, lang))}'
             f'</title></head><body style="{font};color:#263238;max-width:640px">',
             f'<h1 style="font-size:18px;color:#1a237e">{escape(heading)}</h1>']
    for title, lines in sections:
        if title:
            parts.append(f'<h2 style="font-size:15px;color:#1a237e;margin-bottom:4px">{escape(title)}</h2>')
            parts.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>")
        else:
            parts.extend(f"<p>{escape(line)}</p>" for line in lines)
    parts.append("</body></html>")
    return "".join(parts)
