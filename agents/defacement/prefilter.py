"""Skip a defacement rule that cannot match: a literal every match must contain is absent from the page.

The rule engine runs every rule's regexes and needle lists over the record; most rules find nothing on
a normal page, and a regex alternation (`coinhive|coin-hive|authedmine|...`) costs 0.15 ms over a
dense page's URLs. A rule whose condition has no `not` matches only if one of its selections does, and
a selection only if each of its field checks does; so a *necessary* condition of the rule is that, for
some selection, one of its checks finds one of its literals: a `contains`/`startswith`/`endswith`/
`equals` needle (lower case, in the lowered field), or the literal start of every branch of a regex
(read with Python's own regex parser, after `\\b`/`^` anchors; no prefilter when a branch starts with
anything else, or under IGNORECASE). Plain `in` searches are C-speed; when a literal is there the rule
is run as always, so the prefilter never changes a verdict, it only skips work (tests hold it to that).
"""

from __future__ import annotations

import re
from typing import Any

try:   # Python 3.11+
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

MAX_LITERAL = 32
_NEEDLE_OPS = ("contains", "startswith", "endswith", "equals")
Needles = tuple[tuple[str, bool, tuple[str, ...]], ...]   # (field, lowered, literals) per selection


def regex_literals(pattern: str) -> tuple[str, ...] | None:
    """The literal start of each top-level branch of a regex; None when some branch has none."""
    try:   # the regex parser is CPython's own (re._parser): if its shape ever changes, no prefilter
        parsed = _sre_parse.parse(pattern)
        if parsed.state.flags & re.IGNORECASE:
            return None
        items = list(parsed)
        branches = [items]
        if len(items) == 1 and items[0][0] is _sre.BRANCH:
            branches = [list(branch) for branch in items[0][1][1]]
    except (re.error, RecursionError, OverflowError, AttributeError, TypeError, IndexError):
        return None
    found = []
    for branch in branches:
        literal = _prefix(branch)
        if not literal:
            return None
        found.append(literal)
    return tuple(found)


def _prefix(items: list) -> str:
    chars: list[str] = []
    for op, value in items:
        if op is _sre.AT and not chars:
            continue   # \b, ^ before the first letter: zero width
        if op is not _sre.LITERAL or len(chars) >= MAX_LITERAL:
            break
        chars.append(chr(value))
    return "".join(chars)


def _check_needles(key: str, expected: Any) -> tuple[str, bool, tuple[str, ...]] | None:
    """(field, lowered, literals) of one field check, or None when it has no usable literal."""
    name, *mods = str(key).split("|")
    ops = [m for m in mods if m != "all"] or ["equals"]
    if len(ops) != 1:
        return None
    values = expected if isinstance(expected, list) else [expected]
    if not values:
        return None
    if ops[0] in _NEEDLE_OPS:
        if not all(isinstance(v, str) and v for v in values):
            return None
        return name, True, tuple(v.lower() for v in values)
    if ops[0] == "re":
        literals: list[str] = []
        for value in values:
            found = regex_literals(str(value))
            if found is None:
                return None
            literals += found
        return name, False, tuple(literals)
    return None


def needles(match: dict[str, Any]) -> Needles | None:
    """Per selection, the literals of its most selective literal check; None: no prefilter for the rule."""
    condition = str(match.get("condition", ""))
    if re.search(r"\bnot\b", condition):
        return None
    out = []
    for name, selection in match.items():
        if name == "condition":
            continue
        if not isinstance(selection, dict):
            return None
        checks = [found for key, expected in selection.items() if (found := _check_needles(key, expected))]
        if not checks:
            return None
        out.append(max(checks, key=lambda check: min(len(lit) for lit in check[2])))
    return tuple(out) or None


_BY_RULE: dict[int, tuple[Any, Needles | None]] = {}   # id -> (the rule itself, kept alive: ids stay unique)


def for_rule(rule: Any) -> Needles | None:
    """The rule's needles, worked out once per rule object."""
    entry = _BY_RULE.get(id(rule))
    if entry is None or entry[0] is not rule:
        if len(_BY_RULE) >= 4096:
            _BY_RULE.clear()
        entry = (rule, needles(rule.raw.get("match") or {}))
        _BY_RULE[id(rule)] = entry
    return entry[1]


def may_match(found: Needles, record: dict[str, Any]) -> bool:
    """False only when the rule cannot match this record (no selection has any of its literals)."""
    for name, lowered, literals in found:
        value = record.get(name)
        if not isinstance(value, str):
            return True   # not a plain text field: let the rule decide
        text = value.lower() if lowered else value
        if any(literal in text for literal in literals):
            return True
    return False
