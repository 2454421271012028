"""The report's words, numbers and dates come from the one catalogue per language (govwatch.collector.locale):
English with Western digits, Khmer with Khmer digits throughout, as Cambodian government documents write them.
"""

from __future__ import annotations

import math

from govwatch.collector.locale import LANGS, Words, words

__all__ = ["LANGS", "Words", "month_title", "pct", "t", "words"]


def t(w: Words, key: str, **values: object) -> str:
    """A report message (`report.KEY`) with its fields filled, numbers in the language's digits."""
    return w.fmt(f"report.{key}", **values)


def month_title(year: int, month: int, w: Words) -> str:
    return w.digits(w["report.month_label"].format(month=w.month(month), year=year))


def pct(value: float | None, w: Words) -> str:
    """Percent with 2 decimals, truncated: 99.999 stays 99.99, never shows 100.00 when there was downtime."""
    if value is None:
        return w["report.no_figure"]
    return w.digits(f"{math.floor(value * 100 + 1e-9) / 100:.2f}%")
