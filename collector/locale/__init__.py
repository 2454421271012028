"""The one message catalogue per language (gettext .po/.mo) for every word the console, the report and the
digest show a person, and the number and date formats of each language.

msgids are stable keys (`incidents`, `report.title`, `rule.<uuid>`), msgstrs the reviewed text. Keys rather
than English msgids because templates, code and both catalogues refer to the same short names, and an
English rewording must not silently orphan its Khmer translation. The .mo files are compiled from the .po
sources with `make locale` (msgfmt); tests/console/test_locale.py fails when they drift apart.

Numerals are chosen once per language: Khmer documents use Khmer digits everywhere (as Cambodian
government documents do), English ones Western digits.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

LANGS = ("en", "km")
DOMAIN = "govwatch"
_KHMER_DIGITS = str.maketrans("0123456789", "០១២៣៤៥៦៧៨៩")


@cache
def _translations(lang: str) -> gettext.GNUTranslations:
    path = resources.files(__package__).joinpath(lang, "LC_MESSAGES", f"{DOMAIN}.mo")
    with path.open("rb") as handle:
        return gettext.GNUTranslations(handle)


class Words(Mapping[str, str]):
    """A language's catalogue as a read-only mapping key -> text; a key missing from a language falls back
    to English, and a key missing from English is a bug (KeyError)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else "en"
        self._en = _translations("en")
        self._tr = _translations(self.lang)
        # every key the English catalogue defines (gettext offers lookups only; its _catalog is the table)
        self._keys = _keys(self._en)

    def __getitem__(self, key: str) -> str:
        if key not in self._keys:
            raise KeyError(key)
        text = self._tr.gettext(key)
        return text if text != key else self._en.gettext(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def has(self, key: str) -> bool:
        return key in self._keys

    def fmt(self, key: str, **values: Any) -> str:
        """The message with `{name}` fields filled; numbers in the values get this language's digits."""
        return self[key].format(**{k: self.number(v) if isinstance(v, int | float) and not isinstance(v, bool)
                                   else v for k, v in values.items()})

    def digits(self, text: str) -> str:
        """Western digits of `text` written in this language's numerals (only for text that is all ours)."""
        return text.translate(_KHMER_DIGITS) if self.lang == "km" else text

    def number(self, value: float, decimals: int = 0) -> str:
        return self.digits(f"{value:,.{decimals}f}" if decimals else f"{round(value):,}")

    def month(self, month: int) -> str:
        return self[f"month_{month}"]

    def date_time(self, ts: float, tz: Any) -> str:
        """`2026-11-24 21:05` / `២៤ វិច្ឆិកា ២០២៦ ម៉ោង ២១:០៥`."""
        moment = datetime.fromtimestamp(ts, tz if not isinstance(tz, str) else ZoneInfo(tz))
        return self.digits(self["date_format"].format(year=moment.year, month=moment.month, day=moment.day,
                                                      hour=moment.hour, minute=moment.minute,
                                                      month_name=self.month(moment.month)))

    def date(self, ts: float, tz: Any) -> str:
        moment = datetime.fromtimestamp(ts, tz if not isinstance(tz, str) else ZoneInfo(tz))
        return self.digits(self["date_only"].format(year=moment.year, day=moment.day,
                                                    month_name=self.month(moment.month)))

    def duration(self, seconds: float | None) -> str:
        """`2 d 3 h`, `1 h 05 min`, `4 min 10 s` (the largest two units), in this language."""
        if seconds is None:
            return "–"
        total = int(round(seconds))
        days, rest = divmod(total, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        if days:
            text = f"{days} {self['unit_d']} {hours} {self['unit_h']}"
        elif hours:
            text = f"{hours} {self['unit_h']} {minutes:02d} {self['unit_min']}"
        elif minutes:
            text = f"{minutes} {self['unit_min']} {secs:02d} {self['unit_s']}"
        else:
            text = f"{secs} {self['unit_s']}"
        return self.digits(text)

    def severity(self, name: str) -> str:
        key = f"severity_{name}"
        return self[key] if self.has(key) else name

    def kind(self, name: str) -> str:
        key = f"kind_{name}"
        return self[key] if self.has(key) else name

    def status(self, name: str) -> str:
        key = f"status_{name}"
        return self[key] if self.has(key) else name

    def change(self, name: str) -> str:
        key = f"change_{name}"
        return self[key] if self.has(key) else name

    def traffic_kind(self, name: str) -> str:
        key = f"traffic_{name}"
        return self[key] if self.has(key) else self["traffic_unknown"]

    def rule_title(self, rule_id: str) -> str:
        key = f"rule.{rule_id}"
        return self[key] if self.has(key) else self.fmt("unknown_rule", id=rule_id)


@cache
def _keys(catalogue: gettext.GNUTranslations) -> frozenset[str]:
    return frozenset(k for k in catalogue._catalog if isinstance(k, str) and k)  # type: ignore[attr-defined]


@cache
def words(lang: str) -> Words:
    return Words(lang)
