"""Access-log formats: nginx `log_format` and Apache `LogFormat` strings compiled to one linear-time matcher.

A format string is split into literals and fields; each field becomes a *possessive* character class
that excludes the character its following literal starts with (`[^ ]*+`, `[^"\\]*+` with escapes inside
quotes). Possessive classes never give characters back, so a match is one left-to-right pass however
hostile the line: no backtracking, no catastrophic cases, time linear in the (bounded) line length.
A line the format does not fit is counted and sampled by the caller, never an exception.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

# nginx variable / Apache directive -> our field name (anything else is matched and ignored)
NGINX_FIELDS = {"remote_addr": "src", "binary_remote_addr": "", "realip_remote_addr": "src",
                "http_x_forwarded_for": "xff", "remote_user": "user", "time_local": "time", "time_iso8601": "iso",
                "msec": "msec", "request": "request", "status": "status", "body_bytes_sent": "size",
                "bytes_sent": "size", "http_referer": "referer", "http_user_agent": "ua", "host": "host",
                "server_name": "host", "http_host": "host", "request_method": "method", "request_uri": "uri",
                "uri": "path", "args": "query", "query_string": "query"}
APACHE_FIELDS = {"h": "src", "a": "src", "l": "", "u": "user", "t": "time", "r": "request", "s": "status",
                 "b": "size", "B": "size", "O": "size", "v": "host", "V": "host", "m": "method", "U": "path",
                 "q": "query", "{referer}i": "referer", "{user-agent}i": "ua", "{x-forwarded-for}i": "xff",
                 "{host}i": "host"}
PRESETS = {
    "nginx": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
             '"$http_referer" "$http_user_agent"',
    "apache": '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"',
}
COMMON = {"nginx": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent',
          "apache": '%h %l %u %t "%r" %>s %b'}
_NGINX_VAR = re.compile(r"\$\{?([A-Za-z0-9_]+)\}?")
_APACHE_DIRECTIVE = re.compile(r"%[<>!0-9,]*(\{[^}]*\}[a-zA-Z]|[a-zA-Z%])")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                      "Dec"), 1)}


@dataclass(slots=True)
class Request:
    """One access-log line, as the detectors need it (strings already bounded by the line length)."""

    ts: float
    src: str
    method: str
    path: str       # without the query
    query: str      # without the '?'
    status: int
    size: int
    referer: str
    ua: str
    host: str

    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


class FormatError(ValueError):
    """A format string we cannot compile (message names the part)."""


def _tokens(fmt: str) -> list[tuple[str, str]]:
    """[('lit', text) | ('field', name)] for an nginx ($var) or Apache (%x) format string."""
    apache = "$" not in fmt and "%" in fmt
    pattern, names = (_APACHE_DIRECTIVE, APACHE_FIELDS) if apache else (_NGINX_VAR, NGINX_FIELDS)
    fmt = fmt.replace('\\"', '"')
    out: list[tuple[str, str]] = []
    pos = 0
    for match in pattern.finditer(fmt):
        if match.start() > pos:
            out.append(("lit", fmt[pos:match.start()]))
        key = match.group(1)
        if apache and key == "%":
            out.append(("lit", "%"))
        elif apache and key == "t":
            out.append(("field", "time_bracketed"))
        else:
            out.append(("field", names.get(key.lower() if apache and key.startswith("{") else key, "")))
        pos = match.end()
    if pos < len(fmt):
        out.append(("lit", fmt[pos:]))
    if not any(kind == "field" for kind, _ in out):
        raise FormatError(f"format {fmt!r} has no fields ($variable for nginx, %x for Apache)")
    return out


def compile_format(fmt: str) -> re.Pattern[str]:
    """The one regex for a format: possessive fields, each bounded by its next literal."""
    tokens = _tokens(fmt)
    parts: list[str] = []
    seen: set[str] = set()
    for index, (kind, text) in enumerate(tokens):
        if kind == "lit":
            parts.append(re.escape(text))
            continue
        after = tokens[index + 1][1] if index + 1 < len(tokens) and tokens[index + 1][0] == "lit" else ""
        before = tokens[index - 1][1] if index > 0 and tokens[index - 1][0] == "lit" else ""
        if index + 1 < len(tokens) and tokens[index + 1][0] == "field":
            raise FormatError(f"two fields with nothing between them near {text or 'a field'!r}")
        prefix = suffix = ""
        if text == "time_bracketed":
            prefix, inner, suffix, text = r"\[", r"[^\]]*+", r"\]", "time"
        elif before.endswith('"') and after.startswith('"'):
            inner = r'(?:[^"\\]++|\\.)*+'          # quoted: escapes (\" from Apache, \x22 from nginx)
        elif after:
            inner = f"[^{re.escape(after[0])}]*+"
        else:
            inner = ".*+"
        if text and text not in seen:
            seen.add(text)
            body = f"{prefix}(?P<{text}>{inner}){suffix}"
        else:
            body = f"{prefix}(?:{inner}){suffix}"
        parts.append(body)
    return re.compile("".join(parts))


_day_cache: dict[str, float] = {}


def clf_time(text: str) -> float:
    """`10/Oct/2000:13:55:36 -0700` -> unix seconds; days are cached (a log has few of them)."""
    day = _day_cache.get(text[:11] + text[20:])
    if day is None:
        try:
            dd, mon, yyyy = int(text[0:2]), _MONTHS[text[3:6]], int(text[7:11])
            sign = -1 if text[21] == "-" else 1
            offset = sign * (int(text[22:24]) * 3600 + int(text[24:26]) * 60)
        except (ValueError, KeyError, IndexError):
            raise ValueError(f"bad time {text[:40]!r}") from None
        day = float(calendar.timegm((yyyy, mon, dd, 0, 0, 0)) - offset)
        if len(_day_cache) > 4096:
            _day_cache.clear()
        _day_cache[text[:11] + text[20:]] = day
    return day + int(text[12:14]) * 3600 + int(text[15:17]) * 60 + int(text[18:20])


def iso_time(text: str) -> float:
    """`2026-12-01T20:40:36+07:00` -> unix seconds."""
    return clf_time(f"{text[8:10]}/{_MONTH_NAMES[int(text[5:7])]}/{text[0:4]}:{text[11:19]} "
                    f"{'+0000' if text[19:20] in ('Z', '') else text[19:22] + text[23:25]}")


_MONTH_NAMES = {v: k for k, v in _MONTHS.items()}


def _to_int(text: str | None) -> int:
    return int(text) if text and text.isdigit() and len(text) < 19 else 0


def build_parser(fmt: str) -> Callable[[str], Request | None]:
    """A function line -> Request (or None when the line does not fit the format)."""
    if fmt in PRESETS:
        patterns = [compile_format(PRESETS[fmt]), compile_format(COMMON[fmt])]
    else:
        patterns = [compile_format(fmt)]
    matchers = [p.match for p in patterns]
    have = set().union(*(p.groupindex for p in patterns))
    if "src" not in have or not have & {"request", "path", "uri"}:
        raise FormatError("the format must carry the client address ($remote_addr / %h) and the request")
    if not have & {"time", "iso", "msec"}:
        raise FormatError("the format must carry the time ($time_local, $time_iso8601, $msec or %t)")

    def parse(line: str) -> Request | None:
        for match in matchers:
            m = match(line)
            if m is not None:
                try:
                    return _request(m.groupdict())
                except (ValueError, KeyError, IndexError, OverflowError):   # a bad time or number
                    return None
        return None

    return parse


def _request(g: dict[str, str | None]) -> Request:
    if g.get("time"):
        ts = clf_time(g["time"])  # type: ignore[arg-type]
    elif g.get("iso"):
        ts = iso_time(g["iso"])  # type: ignore[arg-type]
    else:
        ts = float(g.get("msec") or "x")
    method, path, query = g.get("method") or "", g.get("path") or "", g.get("query") or ""
    request = g.get("request")
    target = g.get("uri") or ""
    if request is not None:
        first, _, rest = request.partition(" ")
        target = rest.rpartition(" ")[0] if rest.count(" ") else rest
        method = method or first
    if target:
        path, _, q = target.partition("?")
        query = query or q
    if query == "-":
        query = ""
    return Request(ts, (g.get("src") or "-")[:64], method[:16], path, query, _to_int(g.get("status")),
                   _to_int(g.get("size")), g.get("referer") or "", g.get("ua") or "", g.get("host") or "")


def normalised(target: str) -> str:
    """What probe patterns are matched against: decoded twice (double encoding), '+' as space, lower case."""
    text = target.lower()
    if "%" in text:
        text = unquote(unquote(text))
    return text.replace("+", " ")
