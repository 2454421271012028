"""Every event kind declared once, typed: the declaration drives ingest validation, the docs and the tests.

Like osquery's table specs: a kind is a name, a sentence and its `data` fields, each with a type, bounds and
a doc line. `validate(kind, data)` returns a normalised copy or raises EventError naming the field
(`events[3].data.before.size: must be an integer >= 0`); `markdown()` renders docs/events.md. An agent can
therefore only put into the store - and into metric labels, incident evidence and console pages - values of
the declared shape: the collector never meets a string where it reads a number.

To add a kind or a field (e.g. from a new watcher):
    declare("logs", "a finding in web-server or sshd logs", {"kind": F("enum", "finding", required=True,
            choices=LOG_KINDS), "src": F("str", "client address", max_len=64)}, extra=True)
    extend("traffic", {"flags": F("str", "TCP flags seen", max_len=32)})
    add_choices("traffic", "kind", "tcp_flood")
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

TYPES = ("str", "int", "number", "bool", "enum", "list", "map", "json")
MAX_EXTRA_KEYS = 32
MAX_EXTRA_BYTES = 16 * 1024
MAX_JSON_DEPTH = 8
CUT_MARK = "\n[... cut by the collector]"
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_WORD = r"^[a-z][a-z0-9_]{0,63}$"


class EventError(ValueError):
    """An event in a posted batch is malformed; the message names the field."""


@dataclass(frozen=True)
class F:
    """One field: its type, a doc line and bounds. `nullable` admits JSON null; `items`/`fields` nest."""

    type: str
    doc: str
    required: bool = False
    nullable: bool = False
    max_len: int = 1000                # str: characters; list: items
    minimum: float | None = None       # int / number
    maximum: float | None = None
    choices: tuple[str, ...] = ()      # enum
    pattern: str | None = None         # str: a regular expression the whole value matches
    items: F | None = None             # list
    fields: dict[str, F] = field(default_factory=dict)  # map
    extra: bool = False                # map: unknown keys allowed (bounded JSON)
    max_bytes: int = MAX_EXTRA_BYTES   # json / map extras: serialised size bound
    truncate: bool = False             # str: cut at max_len (marked) instead of refusing - for evidence text

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown field type {self.type!r}")


@dataclass(frozen=True)
class Kind:
    name: str
    doc: str
    fields: dict[str, F]
    extra: bool = False


REGISTRY: dict[str, Kind] = {}


def declare(name: str, doc: str, fields: dict[str, F], extra: bool = False) -> Kind:
    """Register (or replace) an event kind; the collector accepts exactly the registered kinds."""
    kind = Kind(name, doc, dict(fields), extra)
    REGISTRY[name] = kind
    return kind


def extend(name: str, fields: dict[str, F]) -> None:
    """Add fields to a declared kind (a watcher that reports more)."""
    kind = REGISTRY[name]
    REGISTRY[name] = replace(kind, fields={**kind.fields, **fields})


def add_choices(name: str, field_name: str, *choices: str) -> None:
    """Allow more values of an enum field (e.g. a new traffic anomaly kind)."""
    kind = REGISTRY[name]
    old = kind.fields[field_name]
    new = replace(old, choices=tuple(dict.fromkeys((*old.choices, *choices))))
    REGISTRY[name] = replace(kind, fields={**kind.fields, field_name: new})


def choices(name: str, field_name: str) -> tuple[str, ...]:
    """The allowed values of an enum field: the bounded label sets metrics use."""
    return REGISTRY[name].fields[field_name].choices


# -- validation --------------------------------------------------------------------------------------
_TOP: dict[str, tuple[Kind, F]] = {}  # kind -> its top-level map spec (built once: ingest validates per event)


def validate(kind_name: str, data: Any, where: str = "data") -> dict[str, Any]:
    """A normalised copy of `data` for `kind_name`, or EventError naming the first bad field."""
    kind = REGISTRY[kind_name]
    cached = _TOP.get(kind_name)
    if cached is None or cached[0] is not kind:  # extend()/add_choices() replace the Kind: rebuild
        cached = _TOP[kind_name] = (kind, F("map", kind.doc, fields=kind.fields, extra=kind.extra))
    return _map(cached[1], data, where)


def _check(spec: F, value: Any, where: str) -> Any:
    if value is None:
        if spec.nullable or not spec.required:
            return None
        raise EventError(f"{where}: must not be null")
    return _CHECKERS[spec.type](spec, value, where)


def printable(value: str) -> str:
    """`value` as valid UTF-8: a file name's undecodable byte (JSON `\\udcff`, Python's surrogateescape) is
    shown escaped as `\\xff`, so it can be stored, diffed and displayed (an agent wanting the exact bytes
    sends them in an extra field, e.g. base64)."""
    if value.isascii():  # the common case, without encoding a copy
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _str(spec: F, value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise EventError(f"{where}: must be a string (got {_type(value)})")
    value = printable(value)
    if len(value) > spec.max_len and spec.truncate:
        return value[:spec.max_len] + CUT_MARK
    if len(value) > spec.max_len:
        raise EventError(f"{where}: longer than {spec.max_len} characters")
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        raise EventError(f"{where}: must match {spec.pattern}")
    return value


def _enum(spec: F, value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in spec.choices:
        raise EventError(f"{where}: must be one of {', '.join(spec.choices)} (got {_short(value)})")
    return value


def _number(spec: F, value: Any, where: str) -> float | int:
    integer = spec.type == "int"
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float) or \
            (isinstance(value, float) and not math.isfinite(value)):
        raise EventError(f"{where}: must be {'an integer' if integer else 'a number'} (got {_short(value)})")
    if spec.minimum is not None and value < spec.minimum:
        raise EventError(f"{where}: must be >= {_num(spec.minimum)}")
    if spec.maximum is not None and value > spec.maximum:
        raise EventError(f"{where}: must be <= {_num(spec.maximum)}")
    return value


def _bool(spec: F, value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise EventError(f"{where}: must be true or false (got {_short(value)})")
    return value


def _list(spec: F, value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise EventError(f"{where}: must be a list (got {_type(value)})")
    if len(value) > spec.max_len:
        raise EventError(f"{where}: more than {spec.max_len} items")
    item = spec.items or F("json", "")
    return [_check(replace(item, required=True), v, f"{where}[{i}]") for i, v in enumerate(value)]


def _map(spec: F, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EventError(f"{where}: must be an object (got {_type(value)})")
    out: dict[str, Any] = {}
    for name, sub in spec.fields.items():
        if name in value:
            checked = _check(sub, value[name], f"{where}.{name}")
            if checked is not None or value[name] is None:
                out[name] = checked
        elif sub.required:
            raise EventError(f"{where}.{name}: required")
    unknown = [k for k in value if k not in spec.fields]
    if unknown and not spec.extra:
        raise EventError(f"{where}.{_short_key(sorted(map(str, unknown))[0])}: unknown field")
    if len(unknown) > MAX_EXTRA_KEYS:
        raise EventError(f"{where}: more than {MAX_EXTRA_KEYS} undeclared fields")
    for key in unknown:
        if not _KEY.match(key):
            raise EventError(f"{where}.{_short_key(key)}: field names are letters, digits, '_', '.', '-' (max 64)")
        out[key] = _json(F("json", "", max_bytes=spec.max_bytes), value[key], f"{where}.{key}")
    return out


def _json(spec: F, value: Any, where: str) -> Any:
    """Free-form JSON, bounded in depth and serialised size (NaN and infinities refused)."""
    _depth(value, where, 0)
    try:
        size = len(json.dumps(value, allow_nan=False, ensure_ascii=False))
    except (ValueError, TypeError):
        raise EventError(f"{where}: must be plain JSON without NaN or infinity") from None
    if size > spec.max_bytes:
        raise EventError(f"{where}: larger than {spec.max_bytes} bytes")
    return _printable_json(value)


def _printable_json(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [_printable_json(v) for v in value]
    if isinstance(value, dict):
        return {printable(str(k)): _printable_json(v) for k, v in value.items()}
    return value


def _depth(value: Any, where: str, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise EventError(f"{where}: nested deeper than {MAX_JSON_DEPTH}")
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        _depth(child, where, depth + 1)


_CHECKERS = {"str": _str, "enum": _enum, "int": _number, "number": _number, "bool": _bool, "list": _list,
             "map": _map, "json": _json}


def _type(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _short_key(key: str) -> str:
    return key if len(key) <= 64 and key.isprintable() else repr(key[:64])


# -- docs --------------------------------------------------------------------------------------------
def markdown() -> str:
    """docs/events.md: one table per kind, generated from the declarations (tests keep the file current)."""
    out = ["# Event kinds", "", "Generated from `core/event_kinds.py` by `python -m govwatch.event_kinds`; "
           "do not edit by hand. The collector refuses any other kind, any field of the wrong type or out of "
           "bounds (400 naming the field), and undeclared fields except where a kind says they are allowed.", ""]
    for kind in REGISTRY.values():
        extra = (f"Undeclared fields allowed: up to {MAX_EXTRA_KEYS}, each at most {MAX_EXTRA_BYTES} bytes of "
                 f"JSON, {MAX_JSON_DEPTH} levels deep." if kind.extra else "No undeclared fields.")
        out += [f"## `{kind.name}`", "", kind.doc + ". " + extra, "", "| field | type | required | bounds | meaning |",
                "| --- | --- | --- | --- | --- |"]
        out += [_row(f"`{name}`", spec) for name, spec in _flatten(kind.fields)]
        out.append("")
    return "\n".join(out)


def _flatten(fields: dict[str, F], prefix: str = "") -> list[tuple[str, F]]:
    rows = []
    for name, spec in fields.items():
        rows.append((prefix + name, spec))
        rows += _flatten(spec.fields, prefix + name + ".")
        if spec.items is not None and spec.items.fields:
            rows += _flatten(spec.items.fields, prefix + name + "[].")
    return rows


def _row(name: str, spec: F) -> str:
    kind = spec.type + (f" of {spec.items.type}" if spec.items else "") + (" or null" if spec.nullable else "")
    bounds = []
    if spec.type in ("str", "list"):
        bounds.append(f"≤ {spec.max_len} {'chars' if spec.type == 'str' else 'items'}"
                      + (" (longer is cut)" if spec.truncate else ""))
    if spec.minimum is not None:
        bounds.append(f"≥ {_num(spec.minimum)}")
    if spec.maximum is not None:
        bounds.append(f"≤ {_num(spec.maximum)}")
    if spec.choices:
        bounds.append(" \\| ".join(spec.choices))
    if spec.pattern:
        bounds.append(f"`{spec.pattern}`".replace("|", "\\|"))
    if spec.type == "json" or spec.extra:
        bounds.append(f"≤ {spec.max_bytes} bytes JSON")
    return f"| {name} | {kind} | {'yes' if spec.required else ''} | {', '.join(bounds)} | {spec.doc} |"


if __name__ == "__main__":
    from govwatch import event_specs  # noqa: F401  (registers the declarations)
    from govwatch.event_kinds import markdown as render  # the imported module holds the registry

    print(render())
