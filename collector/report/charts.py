"""Inline SVG charts for the report, drawn by hand: identical in HTML and PDF, no plotting library.

Why not matplotlib: measured in README ("Alerts, dashboards and reports"); in short, these charts are
bars and a line, WeasyPrint draws the SVG as vectors with the document's own fonts, and the only text
inside is digits and ASCII site names, so nothing needs shaping. Every Khmer word (titles, legends)
lives in the surrounding HTML, which Pango shapes.

The percent axis always runs from 0 to 100 %: a day with a few minutes of downtime looks almost full,
as it should; the colours say which side of the target each bar is. Days still to come and days
without data are drawn differently (dashed outline / grey hatching), both named in the legend.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

GOOD, BAD, EMPTY, AXIS, TARGET = "#2e7d32", "#d84315", "#b0bec5", "#546e7a", "#1a237e"
FONT = 'font-family="DejaVu Sans, Khmer OS, Khmer OS System, sans-serif" font-size="9"'
HATCH = ('<defs><pattern id="nodata" width="4" height="4" patternUnits="userSpaceOnUse" '
         'patternTransform="rotate(45)"><rect width="4" height="4" fill="#eceff1"/>'
         f'<line x1="0" y1="0" x2="0" y2="4" stroke="{EMPTY}" stroke-width="1.6"/></pattern></defs>')


def _y(value: float, top: float, height: float) -> float:
    return top + height * (100.0 - min(100.0, max(value, 0.0))) / 100.0


def _svg(width: int, height: int) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img">', HATCH]


def daily_chart(daily: list[tuple[float, float | None, bool]], target: float, tz: str,
                digits: Callable[[str], str] = str, width: int = 720, height: int = 170) -> str:
    """One bar per day of the month on a 0-100 % axis; a dashed line at the target."""
    left, top, bottom = 38, 8, 22
    plot_h, slot = height - top - bottom, (width - left - 4) / max(1, len(daily))
    parts = _svg(width, height)
    for tick in (0.0, 50.0, 100.0):
        y = _y(tick, top, plot_h)
        parts.append(f'<line x1="{left}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eceff1"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" {FONT} fill="{AXIS}">'
                     f'{digits(f"{tick:g}")}%</text>')
    base = top + plot_h
    for index, (day, value, future) in enumerate(daily):
        x, bar_w = left + index * slot + 1, slot - 2
        label = datetime.fromtimestamp(day, ZoneInfo(tz)).day
        if future:
            parts.append(f'<rect x="{x:.1f}" y="{top}" width="{bar_w:.1f}" height="{plot_h}" fill="none" '
                         f'stroke="{EMPTY}" stroke-dasharray="2 2"/>')
        elif value is None:
            parts.append(f'<rect x="{x:.1f}" y="{top}" width="{bar_w:.1f}" height="{plot_h}" fill="url(#nodata)"/>')
        else:
            y = _y(value, top, plot_h)
            color = GOOD if value >= target else BAD
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{base - y:.1f}" '
                         f'fill="{color}"><title>{label}: {value:.3f}%</title></rect>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 8}" text-anchor="middle" {FONT} '
                     f'fill="{AXIS}">{digits(str(label))}</text>')
    target_y = _y(target, top, plot_h)
    parts.append(f'<line x1="{left}" x2="{width - 4}" y1="{target_y:.1f}" y2="{target_y:.1f}" stroke="{TARGET}" '
                 'stroke-dasharray="4 3"/>')
    parts.append("</svg>")
    return "".join(parts)


def site_bars(rows: list[tuple[str, float | None]], target: float, digits: Callable[[str], str] = str,
              width: int = 720) -> str:
    """One horizontal bar per site (worst first) on a 0-100 % axis, with its percent; a dashed target line."""
    label_w, bar_h, gap, top = 170, 12, 4, 4
    height = top + len(rows) * (bar_h + gap) + 14
    plot_w = width - label_w - 60

    def x_of(value: float) -> float:
        return label_w + plot_w * min(100.0, max(value, 0.0)) / 100.0

    parts = _svg(width, height)
    for index, (name, value) in enumerate(rows):
        y = top + index * (bar_h + gap)
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h - 2}" text-anchor="end" {FONT} '
                     f'fill="#263238">{escape(name[:32])}</text>')
        if value is None:
            parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_h}" fill="url(#nodata)"/>')
            continue
        end = x_of(value)
        parts.append(f'<rect x="{label_w}" y="{y}" width="{max(1.0, end - label_w):.1f}" height="{bar_h}" '
                     f'fill="{GOOD if value >= target else BAD}"/>')
        shown = digits(f"{math.floor(value * 100 + 1e-9) / 100:.2f}")
        parts.append(f'<text x="{end + 4:.1f}" y="{y + bar_h - 2}" {FONT} fill="#263238">{shown}%</text>')
    axis_y = top + len(rows) * (bar_h + gap) + 10
    for tick in (0.0, 50.0, 100.0):
        parts.append(f'<text x="{x_of(tick):.1f}" y="{axis_y}" text-anchor="middle" {FONT} '
                     f'fill="{AXIS}">{digits(f"{tick:g}")}%</text>')
    target_x = x_of(target)
    parts.append(f'<line x1="{target_x:.1f}" x2="{target_x:.1f}" y1="0" y2="{axis_y - 9}" stroke="{TARGET}" '
                 'stroke-dasharray="4 3"/>')
    parts.append("</svg>")
    return "".join(parts)


def swatch(kind: str) -> str:
    """A small legend sample for `good`, `bad`, `nodata`, `future` or `target` (HTML beside Khmer words)."""
    shapes = {"good": f'<rect width="14" height="10" fill="{GOOD}"/>', "bad": f'<rect width="14" height="10" '
              f'fill="{BAD}"/>', "nodata": '<rect width="14" height="10" fill="url(#nodata)"/>',
              "future": f'<rect x="0.5" y="0.5" width="13" height="9" fill="none" stroke="{EMPTY}" '
              'stroke-dasharray="2 2"/>', "target": f'<line x1="0" x2="14" y1="5" y2="5" stroke="{TARGET}" '
              'stroke-dasharray="4 3"/>'}
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="14" height="10" viewBox="0 0 14 10" '
            f'class="swatch">{HATCH}{shapes[kind]}</svg>')
