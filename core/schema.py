"""Strict YAML config loading: unknown keys, wrong types and bad values are refused at file:line.

A schema is a tree of `Field`s. Loading returns plain dicts and lists with defaults filled in and
durations/sizes converted to numbers, so the rest of the code never re-checks the config.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import yaml

from govwatch.durations import parse_duration
from govwatch.errors import ConfigError
from govwatch.yamlload import MAX_BYTES, YamlRefused, compose_bounded

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$", re.I)
NUMBER_CEILING = 10**15  # no count, size or duration in a config is larger; bigger is a typo or an attack
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 2**20, "gb": 10**9, "gib": 2**30}


@dataclass(frozen=True)
class Field:
    """One config value: its kind (str, int, float, bool, duration, size, list, map, any) and limits."""

    kind: str
    required: bool = False
    default: Any = None
    fields: dict[str, Field] | None = None
    item: Field | None = None
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None  # numbers without one still stop at NUMBER_CEILING
    check: Callable[[Any], str | None] | None = None
    doc: str = ""
    extra_keys: bool = False  # a map whose keys are free (e.g. labels)
    meta: dict[str, Any] = field(default_factory=dict)


def parse_size(text: Any) -> int:
    """Return bytes for `1024`, `64MiB`, `1GB`."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = _SIZE.match(str(text).strip())
    if not match:
        raise ValueError(f"bad size {text!r} (use e.g. 512KiB, 64MiB, 1GiB)")
    return int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()])


def _load_with_lines(text: str, name: str) -> tuple[Any, dict[tuple, int]]:
    try:
        return compose_bounded(text)
    except YamlRefused as exc:
        raise ConfigError(name, dotted(exc.key), exc.reason, exc.line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(name, "", f"not valid YAML: {problem}", line) from None
    except ValueError as exc:  # a value PyYAML resolved but could not build (e.g. a date out of range)
        raise ConfigError(name, "", f"not valid YAML: {str(exc)[:120]}") from None


def dotted(path: tuple) -> str:
    """Render ('fim', 'paths', 2) as `fim.paths[2]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Validator:
    def __init__(self, name: str, lines: dict[tuple, int]) -> None:
        self.name, self.lines = name, lines

    def fail(self, path: tuple, reason: str) -> ConfigError:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return ConfigError(self.name, dotted(path), reason, self.lines.get(probe))

    def value(self, spec: Field, value: Any, path: tuple) -> Any:
        if value is None:
            if spec.required:
                raise self.fail(path, "is required")
            if spec.kind == "map" and spec.default is not None:
                return self.mapping(spec, dict(spec.default), path)
            return spec.default
        converted = self._convert(spec, value, path)
        if spec.choices is not None and converted not in spec.choices:
            raise self.fail(path, f"must be one of {', '.join(map(str, spec.choices))} (got {value!r})")
        self._range(spec, converted, value, path)
        if spec.check is not None:
            problem = spec.check(converted)
            if problem:
                raise self.fail(path, problem)
        return converted

    def _range(self, spec: Field, converted: Any, value: Any, path: tuple) -> None:
        """Every number is bounded: the field's own limits, never negative sizes or durations, never NaN."""
        if spec.kind not in ("int", "float", "duration", "size"):
            return
        if converted != converted or converted in (float("inf"), float("-inf")):
            raise self.fail(path, f"must be a finite number (got {value!r})")
        low = spec.minimum if spec.minimum is not None else (0 if spec.kind in ("duration", "size") else None)
        if low is not None and converted < low:
            raise self.fail(path, f"must be at least {_fmt(low)} (got {value!r})")
        high = spec.maximum if spec.maximum is not None else NUMBER_CEILING
        if converted > high:
            raise self.fail(path, f"must be at most {_fmt(high)} (got {value!r})")

    def _convert(self, spec: Field, value: Any, path: tuple) -> Any:
        kind = spec.kind
        if kind == "any":
            return value
        if kind == "map":
            return self.mapping(spec, value, path)
        if kind == "list":
            if not isinstance(value, list):
                raise self.fail(path, f"must be a list (got {type(value).__name__})")
            item = spec.item or Field("any")
            return [self.value(item, v, path + (i,)) for i, v in enumerate(value)]
        if kind in ("duration", "size"):
            try:
                if kind == "duration":
                    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
                        else parse_duration(value)
                return parse_size(value)
            except ValueError as exc:
                raise self.fail(path, str(exc)) from None
        return self._scalar(kind, value, path)

    def _scalar(self, kind: str, value: Any, path: tuple) -> Any:
        if kind == "bool":
            if isinstance(value, bool):
                return value
        elif kind == "int":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif kind == "float":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        elif kind == "str":
            if isinstance(value, str) and value.strip():
                return value
            if isinstance(value, str):
                raise self.fail(path, "must not be empty")
        else:
            raise AssertionError(f"unknown field kind {kind}")
        names = {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "a string"}
        return self._type_error(path, names[kind], value)

    def _type_error(self, path: tuple, want: str, value: Any) -> Any:
        raise self.fail(path, f"must be {want} (got {type(value).__name__} {value!r})")

    def mapping(self, spec: Field, value: Any, path: tuple) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a mapping of keys (got {type(value).__name__})")
        fields = spec.fields or {}
        if not spec.extra_keys:
            for key in value:
                if key not in fields:
                    allowed = ", ".join(sorted(fields)) or "none"
                    raise self.fail(path + (key,), f"unknown key (allowed here: {allowed})")
        out: dict[str, Any] = {k: v for k, v in value.items() if spec.extra_keys and k not in fields}
        for key, sub in fields.items():
            out[key] = self.value(sub, value.get(key), path + (key,))
        return out


def _fmt(number: float) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)


def validate(data: Any, schema: Field, name: str, lines: dict[tuple, int] | None = None) -> Any:
    """Validate already-parsed data (e.g. a JSON body) against `schema`."""
    return _Validator(name, lines or {}).value(schema, data, ())


_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


def check_name(value: str) -> str | None:
    """Site and agent names become metric labels: short, lowercase, no spaces."""
    return None if _NAME.match(value) else "must be lowercase letters, digits, '-', '_' or '.' (max 63)"


def check_cidr(value: str) -> str | None:
    """An address or network (allow lists, trusted sources): `203.0.113.0/24`, `2001:db8::1`."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"not an address or CIDR: {value!r}"
    return None


def check_url(value: str) -> str | None:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return f"must be an http:// or https:// URL (got {value!r})"
    return None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", f"not UTF-8 text (byte {exc.start}): is this the right file?") from None


def load_file(path: str, schema: Field) -> dict[str, Any]:
    """Read, parse and validate a YAML config file, or raise ConfigError naming the place."""
    data, lines = _load_with_lines(_read(path), path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, "", "must be a YAML mapping of keys at the top level", 1)
    return _Validator(path, lines).value(schema, data, ())


def load_yaml_lines(path: str) -> tuple[Any, dict[tuple, int]]:
    """Parse a YAML file and return (data, {key path: line}) for rule loaders."""
    return _load_with_lines(_read(path), path)


def resolve_path(base_file: str, value: str | None) -> str | None:
    """Resolve a path in a config file relative to the folder the file really lives in (symlinks resolved),
    so /etc/govwatch/collector.yml -> /var/lib/govwatch/collector.yml finds its secrets beside the target.
    Every command (check, run, restore) goes through here, so they cannot disagree."""
    if value is None:
        return None
    expanded = os.path.expanduser(value)
    if not os.path.isabs(expanded):
        expanded = os.path.join(os.path.dirname(os.path.realpath(base_file)), expanded)
    return os.path.normpath(expanded)
