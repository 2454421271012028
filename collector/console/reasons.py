"""The defacement detector's reasons in the reader's language.

The agent sends each reason as an English sentence (agents/defacement/sensors.py). The known sentence forms
are matched here and rewritten from the catalogue (`reason.*`), their variable parts (excerpts, domains,
rule titles) kept; a sentence of a form not listed stays in English and is shown marked as such.
"""

from __future__ import annotations

import re
from typing import Any

from govwatch.collector.console.render import Safe, esc, html

RULE = r"\(rule (?P<rule>[0-9a-f-]{36}): .*\)"
FORMS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p, re.S), k) for p, k in (
    (r"signature: '(?P<excerpt>.*)' " + RULE, "reason.signature"),
    (r"claim words in a news-like sentence, page otherwise intact: '(?P<excerpt>.*)' " + RULE, "reason.reported"),
    (r"new external (?P<ctx>\w+) domains? (?P<list>.+)", "reason.domains"),
    (r"hidden block with (?P<n>\d+) link\(s\) to other sites \((?P<list>.*)\)", "reason.hidden_block"),
    (r"(?P<n>\d+) new hidden links on the page", "reason.hidden_links"),
    (r"obfuscated inline script \((?P<what>.*)\)", "reason.obfuscated"),
    (r"new inline script reaching (?P<list>.+)", "reason.inline_script"),
    (r"(?P<how>tiny|hidden) iframe to (?P<list>.+)", "reason.iframe"),
    (r"meta refresh to (?P<list>.+)", "reason.meta_refresh_to"),
    (r"new meta refresh on the page", "reason.meta_refresh"),
    (r"script redirect to (?P<list>.+)", "reason.script_redirect"),
    (r"page redirected to (?P<list>.+)", "reason.redirected"),
    (r"the page shows no text of its own and writes itself .*", "reason.self_writing"),
    (r"unfilled template placeholders like .*", "reason.placeholders"),
    (r"stand-alone page built like a defacement: (?P<what>.*), no site navigation", "reason.standalone"),
    (r"title changed from '(?P<old>.*)' to '(?P<new>.*)'", "reason.title"),
    (r"page content replaced: lost (?P<what>.*)", "reason.content"),
))


def translate(reason: str, w: Any) -> Safe | None:
    """The reason in `w`'s language as markup (the page's own words in it marked translate="no"), or None
    when its form is unknown (the caller then shows the English sentence)."""
    for pattern, key in FORMS:
        match = pattern.fullmatch(reason)
        if match is None:
            continue
        values: dict[str, Any] = {}
        for name, value in match.groupdict().items():
            if name == "rule":
                values[name] = esc(w.rule_title(value))
            elif name == "how":
                values[name] = esc(w[f"reason.how_{value}"])
            elif name == "n":
                values[name] = esc(w.number(int(value)))
            else:
                values[name] = html('<span translate="no">{0}</span>', value)
        return Safe(esc(w[key]).format(**values))
    return None
