"""The console's words come from the one catalogue per language (govwatch.collector.locale, gettext).

Templates read them as `${t_KEY}`; code reads `ctx.w[KEY]` (a `Words` mapping that also formats numbers,
dates, durations, severities, kinds, change kinds and rule titles in the page's language).
"""

from __future__ import annotations

from govwatch.collector.locale import LANGS, Words
from govwatch.collector.locale import words as _words

__all__ = ["LANGS", "Words", "pick_lang", "severity_word", "words"]


def words(lang: str) -> Words:
    return _words(lang if lang in LANGS else "en")


def severity_word(severity: str, lang: str) -> str:
    return words(lang).severity(severity)


def pick_lang(query: dict[str, str], cookies: dict[str, str]) -> str:
    """`?lang=` wins, then the cookie, then English."""
    for candidate in (query.get("lang"), cookies.get("gw_lang")):
        if candidate in LANGS:
            return candidate
    return "en"
