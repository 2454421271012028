"""Offline analysis of log files with the live detectors, in log time (`govwatch logs analyze`).

Files are read in the order given (e.g. `access.log.2.gz access.log.1 access.log`); `.gz` files are
decompressed as they are read. Without `--format`, each file's kind is sniffed from its first lines: sshd
syslog lines, journal JSON, or an access log in the nginx/Apache combined (or common) format.
"""

from __future__ import annotations

import gzip
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from govwatch.errors import GovwatchError

from .engine import Engine
from .findings import Finding
from .follow import CHUNK
from .lines import LineSplitter
from .rules import LogRule

SNIFF_BYTES = 64 * 1024
MAX_LINE = 16 * 1024


@dataclass
class Summary:
    """The last line of `logs analyze`."""

    lines: int
    unparsed: int
    seconds: float
    findings: int

    def record(self) -> dict[str, object]:
        rate = self.lines / self.seconds if self.seconds > 0 else 0.0
        return {"lines": self.lines, "unparsed": self.unparsed, "seconds": round(self.seconds, 3),
                "lines_per_s": round(rate), "findings": self.findings}


def _open(path: str):
    try:
        return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise GovwatchError(f"{path}: cannot read: {exc.strerror or exc}") from None


def sniff(path: str) -> str:
    """`auth`, `journal` or `nginx` for a file, from its first lines."""
    with _open(path) as handle:
        try:
            head = handle.read(SNIFF_BYTES).decode("utf-8", "replace")
        except (OSError, EOFError, zlib.error) as exc:
            raise GovwatchError(f"{path}: cannot read: {exc}") from None
    first = head.lstrip()[:1]
    if first == "{":
        return "journal"
    if "sshd[" in head or "sshd-session[" in head or " sshd: " in head:
        return "auth"
    return "nginx"


def handler_for(engine: Engine, kind: str) -> Callable[[str], object]:
    if kind == "auth":
        return engine.auth_line
    if kind == "journal":
        return engine.journal_line
    return engine.access_handler(kind)


def analyze(paths: list[str], rules: dict[str, LogRule], on_finding: Callable[[Finding], None],
            fmt: str | None = None, login_paths: list[str] | None = None, trusted: list[str] | None = None) -> Summary:
    """Judge every line of `paths`; call `on_finding` as each finding closes. Returns the summary."""
    started = time.perf_counter()
    engine = Engine(rules, lambda state, f: on_finding(f) if state == "end" else None, trusted or [],
                    login_paths or [])
    for path in paths:
        if os.path.isdir(path):
            raise GovwatchError(f"{path}: is a folder, not a log file")
        handler = handler_for(engine, fmt or sniff(path))
        splitter = LineSplitter(MAX_LINE, handler, engine.line_too_long)  # type: ignore[arg-type]
        with _open(path) as handle:
            try:
                while chunk := handle.read(CHUNK):
                    splitter.feed(chunk)
            except (OSError, EOFError, zlib.error) as exc:
                raise GovwatchError(f"{path}: cannot read: {exc}") from None
        splitter.flush()
    engine.finish()
    return Summary(engine.lines, engine.unparsed, time.perf_counter() - started, engine.findings.total)
