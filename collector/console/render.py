"""A tiny HTML renderer from the standard library: everything is escaped unless it is already `Safe`.

Why not Jinja2: it would be a new runtime dependency for a handful of pages, and the pages are mostly
tables built from rows, which `html()` keeps as short as a template loop would. `string.Template` files
hold the page skeletons; rows and badges are built with `html()`, which escapes every argument. The
only way to put raw markup into a page is to wrap it in `Safe`, and only this package does that, on
markup it built itself.
"""

from __future__ import annotations

import html as _html
import time
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from importlib import resources
from string import Template
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Safe(str):
    """Markup that is already escaped (built by `html`, `join` or a template)."""


def esc(value: Any) -> Safe:
    """Escape any value for HTML text or a quoted attribute; `Safe` passes through; None is empty."""
    if isinstance(value, Safe):
        return value
    if value is None:
        return Safe("")
    return Safe(_html.escape(str(value), quote=True))


def html(fmt: str, *args: Any, **kwargs: Any) -> Safe:
    """`fmt.format(...)` with every argument escaped: the one way fragments are built."""
    return Safe(fmt.format(*(esc(a) for a in args), **{k: esc(v) for k, v in kwargs.items()}))


def join(parts: Iterable[Any], sep: str = "") -> Safe:
    return Safe(sep.join(esc(p) for p in parts))


@cache
def _template(name: str) -> Template:
    text = resources.files("govwatch.collector.console").joinpath("templates", name).read_text(encoding="utf-8")
    return Template(text)


def render(name: str, values: dict[str, Any]) -> Safe:
    """Fill template `name` (under templates/); a missing value is a bug and raises KeyError."""
    return Safe(_template(name).substitute({k: esc(v) for k, v in values.items()}))


def static_file(name: str) -> bytes | None:
    """The bytes of a file under static/, or None (names are checked by the route's pattern)."""
    path = resources.files("govwatch.collector.console").joinpath("static", name)
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:  # e.g. a name longer than the file system allows: simply not one of ours
        return None


def zone(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def clock_time(ts: float | None, tz: Any, words: Any = None) -> Safe:
    """The local time with its zone: `2026-11-24 21:05 +07` (in the page's language and numerals when
    `words` is given), the zone's name as a tooltip."""
    if ts is None:
        return Safe("")
    moment = datetime.fromtimestamp(ts, tz)
    shown = words.date_time(ts, tz) if words is not None else moment.strftime("%Y-%m-%d %H:%M")
    offset = moment.strftime("%z")
    label = f"{shown} {words.digits(offset) if words is not None else offset}"
    return html('<time datetime="{0}" title="{1}">{2}</time>', moment.isoformat(timespec="seconds"),
                getattr(tz, "key", str(tz)), label)


def age(ts: float | None, words: Any, now: float | None = None) -> str:
    """How long ago, in the largest whole unit: `5 min`, `3 h`, `2 d` (words give the unit names)."""
    if ts is None:
        return words["never"]
    seconds = max(0, int((now if now is not None else time.time()) - ts))
    digits = getattr(words, "digits", str)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return digits(f"{seconds // size} {words['unit_' + unit]}")
    return digits(f"{seconds} {words['unit_s']}")


def when(ts: float | None, tz: Any, words: Any) -> Safe:
    """A relative age with the exact local time and zone as a tooltip."""
    if ts is None:
        return esc(words["never"])
    moment = datetime.fromtimestamp(ts, tz)
    exact = f"{words.date_time(ts, tz)} {words.digits(moment.strftime('%z'))} ({getattr(tz, 'key', tz)})"
    return html('<time datetime="{0}" title="{1}">{2} {3}</time>', moment.isoformat(timespec="seconds"), exact,
                age(ts, words), words["ago"])
