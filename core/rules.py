"""Detection rule files in house style: loading with file:line errors, a Sigma-like matcher, self-tests.

Every family (fim, defacement, traffic) keeps its rules as YAML in `rules/<family>/`. Common fields are
checked here; the family passes a `check_body` callback for its own fields. A malformed file is refused
at load with its file, line and reason: it never silently disables detection.

Matcher: `match: {name: {field|op: value-or-list, ...}, condition: "a and not b"}` with a fixed set of
operators (equals, contains, startswith, endswith, re, cidr, gt, lt, gte, lte, in) and the `|all`
modifier; conditions use and/or/not, parentheses and selection names. Nothing is `eval`ed.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from govwatch.errors import ConfigError
from govwatch.events import SEVERITIES
from govwatch.schema import dotted, load_yaml_lines

STATUSES = ("experimental", "stable", "deprecated")
COMMON_KEYS = {"id", "title", "status", "severity", "source", "description", "tags", "falsepositives",
               "output", "tests", "references", "author", "date", "match", "enabled"}
OPERATORS = ("equals", "contains", "startswith", "endswith", "re", "cidr", "gt", "lt", "gte", "lte", "in")


@dataclass
class Rule:
    """One loaded rule; `body` holds the family-specific keys, `matcher` the compiled `match`."""

    id: str
    title: str
    severity: str
    status: str
    source: str
    file: str
    line: int
    raw: dict[str, Any]
    tests: list[dict[str, Any]] = field(default_factory=list)
    matcher: Callable[[dict[str, Any]], bool] | None = None
    enabled: bool = True

    def matches(self, record: dict[str, Any]) -> bool:
        return bool(self.matcher and self.matcher(record))

    def render(self, record: dict[str, Any]) -> str:
        """Fill the rule's `output` template from the record; unknown names stay as written."""
        template = self.raw.get("output") or self.title
        return re.sub(r"\{([\w.]+)\}", lambda m: str(_get(record, m.group(1), m.group(0))), template)


def _get(record: dict[str, Any], dotted_name: str, default: Any = None) -> Any:
    value: Any = record
    for part in dotted_name.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def _compile_test(op: str, expected: Any) -> Callable[[Any], bool]:
    if op == "equals":
        folded = expected.lower() if isinstance(expected, str) else None
        return lambda v: v == expected or (folded is not None and isinstance(v, str) and v.lower() == folded)
    if op in ("contains", "startswith", "endswith"):
        needle = str(expected).lower()
        method = {"contains": str.__contains__, "startswith": str.startswith, "endswith": str.endswith}[op]
        return lambda v: isinstance(v, str) and method(v.lower(), needle)
    if op == "re":
        pattern = re.compile(str(expected))
        return lambda v: isinstance(v, str) and pattern.search(v) is not None
    if op == "cidr":
        net = ipaddress.ip_network(str(expected), strict=False)
        return lambda v: _in_net(v, net)
    if op in ("gt", "lt", "gte", "lte"):
        limit = float(expected)
        cmp = {"gt": float.__gt__, "lt": float.__lt__, "gte": float.__ge__, "lte": float.__le__}[op]
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and cmp(float(v), limit)
    if op == "in":
        return lambda v: v in expected
    raise ValueError(f"unknown operator {op!r} (use one of {', '.join(OPERATORS)})")


def _in_net(value: Any, net: ipaddress._BaseNetwork) -> bool:
    try:
        return ipaddress.ip_address(str(value)) in net
    except ValueError:
        return False


def _compile_selection(selection: Any) -> Callable[[dict[str, Any]], bool]:
    if not isinstance(selection, dict) or not selection:
        raise ValueError("a selection must be a non-empty mapping of field|operator: value")
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for key, expected in selection.items():
        name, *mods = str(key).split("|")
        want_all = "all" in mods
        ops = [m for m in mods if m != "all"] or ["equals"]
        if len(ops) > 1:
            raise ValueError(f"{key}: one operator per field")
        values = expected if isinstance(expected, list) and ops[0] != "in" else [expected]
        tests = [_compile_test(ops[0], v) for v in values]
        checks.append(_field_check(name, tests, want_all))
    return lambda record: all(check(record) for check in checks)


def _field_check(name: str, tests: list[Callable[[Any], bool]], want_all: bool) -> Callable[[dict[str, Any]], bool]:
    combine = all if want_all else any

    def check(record: dict[str, Any]) -> bool:
        value = _get(record, name)
        items = value if isinstance(value, list) else [value]
        return combine(any(test(item) for item in items) for test in tests)

    return check


_TOKEN = re.compile(r"\s*(\(|\)|\band\b|\bor\b|\bnot\b|[A-Za-z_][\w]*)")


def compile_condition(condition: str, selections: dict[str, Callable]) -> Callable[[dict[str, Any]], bool]:
    """Compile `a and (b or not c)` over named selections by recursive descent."""
    tokens = _tokenize(condition)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def expr() -> Callable:
        left = term()
        while peek() == "or":
            take()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, term())
        return left

    def term() -> Callable:
        left = factor()
        while peek() == "and":
            take()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, factor())
        return left

    def factor() -> Callable:
        token = peek()
        if token is None:
            raise ValueError(f"condition {condition!r} ends too early")
        take()
        if token == "not":
            inner = factor()
            return lambda r: not inner(r)
        if token == "(":
            inner = expr()
            if peek() != ")":
                raise ValueError(f"condition {condition!r}: missing )")
            take()
            return inner
        if token not in selections:
            raise ValueError(f"condition names {token!r}, which is not a selection")
        return selections[token]

    result = expr()
    if pos != len(tokens):
        raise ValueError(f"condition {condition!r}: unexpected {tokens[pos]!r}")
    return result


def _tokenize(condition: str) -> list[str]:
    tokens, pos = [], 0
    text = condition.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"condition {condition!r}: cannot read at {text[pos:]!r}")
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def compile_match(match: Any) -> Callable[[dict[str, Any]], bool]:
    """Compile a rule's `match` block (named selections plus `condition`)."""
    if not isinstance(match, dict) or "condition" not in match:
        raise ValueError("match needs named selections and a condition")
    selections = {k: _compile_selection(v) for k, v in match.items() if k != "condition"}
    return compile_condition(str(match["condition"]), selections)


def _check_common(raw: dict[str, Any], lines: dict[tuple, int], path: str, index: tuple,
                  family: str, extra_keys: set[str]) -> None:
    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(path, dotted(index + (key,)) if key else dotted(index), reason,
                           lines.get(index + (key,), lines.get(index)))

    for key in raw:
        if key not in COMMON_KEYS and key not in extra_keys:
            raise fail(key, f"unknown key (allowed: {', '.join(sorted(COMMON_KEYS | extra_keys))})")
    try:
        uuid.UUID(str(raw.get("id")))
    except ValueError:
        raise fail("id", "must be a stable UUID") from None
    if not isinstance(raw.get("title"), str) or not raw["title"].strip():
        raise fail("title", "is required (a short human title)")
    if raw.get("severity") not in SEVERITIES:
        raise fail("severity", f"must be one of {', '.join(SEVERITIES)}")
    if raw.get("status", "stable") not in STATUSES:
        raise fail("status", f"must be one of {', '.join(STATUSES)}")
    if raw.get("source", family) != family:
        raise fail("source", f"must be {family!r} for a rule in rules/{family}/")
    tests = raw.get("tests")
    if not isinstance(tests, list) or not tests:
        raise fail("tests", "every rule needs a list of tests (match and no_match cases)")


def load_rules(directory: str, family: str, extra_keys: set[str] | None = None,
               check_body: Callable[[dict[str, Any]], None] | None = None,
               include_disabled: bool = False) -> list[Rule]:
    """Load every `*.yml` under `directory`: one rule per file, or a list of rules under `rules:`.

    `check_body(raw)` validates family keys and may raise ValueError/KeyError; the message is reported
    at the rule's file and line. Ids must be unique across the directory.
    """
    if not os.path.isdir(directory):
        raise ConfigError(directory, "", f"rules folder for {family} not found")
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    files = sorted(glob.glob(os.path.join(directory, "**", "*.yml"), recursive=True)
                   + glob.glob(os.path.join(directory, "**", "*.yaml"), recursive=True))
    for path in files:
        for rule in _load_file(path, family, extra_keys or set(), check_body):
            if rule.id in seen:
                raise ConfigError(path, "id", f"duplicate rule id (also in {seen[rule.id]})", rule.line)
            seen[rule.id] = path
            if rule.enabled or include_disabled:
                rules.append(rule)
    return rules


def _load_file(path: str, family: str, extra_keys: set[str],
               check_body: Callable[[dict[str, Any]], None] | None) -> list[Rule]:
    data, lines = load_yaml_lines(path)
    if isinstance(data, dict) and "rules" in data and len(data) == 1:
        entries, base = data["rules"], ("rules",)
        if not isinstance(entries, list):
            raise ConfigError(path, "rules", "must be a list of rules", lines.get(base))
        items = [(entry, base + (i,)) for i, entry in enumerate(entries)]
    elif isinstance(data, dict):
        items = [(data, ())]
    else:
        raise ConfigError(path, "", "a rule file must be a mapping (one rule) or `rules: [...]`", 1)
    out = []
    for raw, index in items:
        if not isinstance(raw, dict):
            raise ConfigError(path, dotted(index), "a rule must be a mapping", lines.get(index))
        out.append(_build_rule(raw, lines, path, index, family, extra_keys, check_body))
    return out


def _build_rule(raw: dict[str, Any], lines: dict[tuple, int], path: str, index: tuple, family: str,
                extra_keys: set[str], check_body: Callable[[dict[str, Any]], None] | None) -> Rule:
    _check_common(raw, lines, path, index, family, extra_keys)
    matcher = None
    try:
        if "match" in raw:
            matcher = compile_match(raw["match"])
        if check_body:
            check_body(raw)
    except (ValueError, KeyError, TypeError, re.error) as exc:
        key = "match" if "match" in raw and matcher is None else ""
        line = lines.get(index + (key,)) if key else lines.get(index)
        raise ConfigError(path, dotted(index + (key,)) if key else dotted(index) or "rule", str(exc), line) from None
    return Rule(id=str(raw["id"]), title=raw["title"], severity=raw["severity"],
                status=raw.get("status", "stable"), source=family, file=path,
                line=lines.get(index, 1), raw=raw, tests=list(raw["tests"]), matcher=matcher,
                enabled=bool(raw.get("enabled", True)))


def rules_dir(family: str, configured: str | None = None) -> str:
    """Where a family's rules live: the configured folder, $GOVWATCH_RULES/<family>, or the source tree."""
    if configured:
        return configured
    base = os.environ.get("GOVWATCH_RULES")
    if base:
        return os.path.join(base, family)
    for candidate in (os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "rules"),
                      "/usr/share/govwatch/rules", os.path.join(sys.prefix, "share", "govwatch", "rules")):
        if os.path.isdir(os.path.join(candidate, family)):
            return os.path.join(candidate, family)
    return os.path.join("rules", family)
