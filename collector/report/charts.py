"""Inline SVG charts for the report, drawn by hand: no plotting library, identical in HTML and PDF.

Text inside the SVG is digits and site names only (ASCII by the config's naming rule): SVG text is not
shaped like HTML text, so every Khmer word (titles, legends) lives in the surrounding HTML instead.
"""

from __future__ import annotations

import math
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

GOOD, BAD, EMPTY, AXIS = "#2e7d32", "#d84315", "#cfd8dc", "#546e7a"
FONT = 'font-family="DejaVu Sans, sans-serif" font-size="9"'


def _floor_axis(values: list[float], target: float) -> float:
    """Lowest percent shown: low enough to show the worst value and the target, never below 0."""
    lowest = min([target, *values]) if values else target
    return max(0.0, math.floor(min(lowest - 0.5, 99.0)))


def _y(value: float, low: float, top: float, height: float) -> float:
    return top + height * (100.0 - max(value, low)) / (100.0 - low)


def daily_chart(daily: list[tuple[float, float | None]], target: float, tz: str, width: int = 720,
                height: int = 170) -> str:
    """One bar per day of the month; a dashed line at the target."""
    left, top, bottom = 38, 8, 22
    plot_h, slot = height - top - bottom, (width - left - 4) / max(1, len(daily))
    low = _floor_axis([v for _, v in daily if v is not None], target)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for tick in (low, (low + 100) / 2, 100.0):
        y = _y(tick, low, top, plot_h)
        parts.append(f'<line x1="{left}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eceff1"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" {FONT} fill="{AXIS}">{tick:g}%</text>')
    for index, (day, value) in enumerate(daily):
        x = left + index * slot + 1
        label = datetime.fromtimestamp(day, ZoneInfo(tz)).day
        if value is None:
            parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - 2}" width="{slot - 2:.1f}" height="2" fill="{EMPTY}"/>')
        else:
            y = _y(value, low, top, plot_h)
            color = GOOD if value >= target else BAD
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot - 2:.1f}" height="{top + plot_h - y:.1f}" '
                         f'fill="{color}"><title>{label}: {value:.3f}%</title></rect>')
        parts.append(f'<text x="{x + (slot - 2) / 2:.1f}" y="{height - 8}" text-anchor="middle" {FONT} '
                     f'fill="{AXIS}">{label}</text>')
    target_y = _y(target, low, top, plot_h)
    parts.append(f'<line x1="{left}" x2="{width - 4}" y1="{target_y:.1f}" y2="{target_y:.1f}" stroke="#1a237e" '
                 'stroke-dasharray="4 3"/>')
    parts.append("</svg>")
    return "".join(parts)


def site_bars(rows: list[tuple[str, float | None]], target: float, width: int = 720) -> str:
    """One horizontal bar per site (worst first), with its percent; a dashed line at the target."""
    label_w, bar_h, gap, top = 170, 12, 4, 4
    height = top + len(rows) * (bar_h + gap) + 14
    low = _floor_axis([v for _, v in rows if v is not None], target)
    plot_w = width - label_w - 60

    def x_of(value: float) -> float:
        return label_w + plot_w * (max(value, low) - low) / (100.0 - low)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for index, (name, value) in enumerate(rows):
        y = top + index * (bar_h + gap)
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h - 2}" text-anchor="end" {FONT} '
                     f'fill="#263238">{escape(name[:32])}</text>')
        if value is None:
            parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_h}" fill="{EMPTY}"/>')
            continue
        color = GOOD if value >= target else BAD
        end = x_of(value)
        parts.append(f'<rect x="{label_w}" y="{y}" width="{max(1.0, end - label_w):.1f}" height="{bar_h}" '
                     f'fill="{color}"/>')
        shown = math.floor(value * 100 + 1e-9) / 100
        parts.append(f'<text x="{end + 4:.1f}" y="{y + bar_h - 2}" {FONT} fill="#263238">{shown:.2f}%</text>')
    axis_y = top + len(rows) * (bar_h + gap) + 10
    for tick in (low, 100.0):
        parts.append(f'<text x="{x_of(tick):.1f}" y="{axis_y}" text-anchor="middle" {FONT} '
                     f'fill="{AXIS}">{tick:g}%</text>')
    target_x = x_of(target)
    parts.append(f'<line x1="{target_x:.1f}" x2="{target_x:.1f}" y1="0" y2="{axis_y - 9}" stroke="#1a237e" '
                 'stroke-dasharray="4 3"/>')
    parts.append("</svg>")
    return "".join(parts)
