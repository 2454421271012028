"""One engine for the watcher and `logs analyze`: lines in, findings out, unparsable lines counted.

Lines are judged in log time, so a file analysed offline and the same lines followed live raise the same
findings. Trusted sources (monitoring, the office) are dropped before any detector sees them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from .auth import AuthRecord, journal_record, syslog_record
from .findings import Findings, Listener
from .formats import Request, build_parser
from .rules import LogRule
from .ssh import SshDetector
from .web import WebDetector

MAX_SAMPLES = 5
SAMPLE_CHARS = 200


class Engine:
    """Parsers, detectors and finding lifecycle; `stats()` for the heartbeat."""

    def __init__(self, rules: dict[str, LogRule], listener: Listener, trusted: Iterable[str] = (),
                 login_paths: Iterable[str] = (), max_sources: int = 20000, update_every: float | None = None) -> None:
        self.findings = Findings(listener, update_every)
        self.web = WebDetector(rules, self.findings, list(login_paths), max_sources)
        self.ssh = SshDetector(rules, self.findings, max_sources)
        self.trusted_nets = [ipaddress.ip_network(t, strict=False) for t in trusted]
        self._trusted: dict[str, bool] = {}
        self.lines = 0
        self.unparsed = 0
        self.unparsed_sample: list[str] = []
        self.too_long = 0
        self.last_ts = 0.0
        self._next_tick = 0.0

    def access_handler(self, fmt: str) -> Callable[[str], None]:
        """A function that judges one access-log line of format `fmt` (preset name or format string)."""
        parse = build_parser(fmt)
        feed = self.web.feed

        def handle(line: str) -> None:
            self.lines += 1
            request = parse(line)
            if request is None:
                self._unparsed(line)
                return
            if self.trusted_nets and self.is_trusted(request.src):
                return
            self.last_ts = request.ts
            feed(request)
            if request.ts >= self._next_tick:
                self.tick(request.ts)

        return handle

    def auth_line(self, line: str) -> None:
        """Judge one auth.log line (non-sshd lines are skipped, not counted as unparsable)."""
        self.lines += 1
        record = syslog_record(line)
        if record is not None:
            self._auth(record)

    def journal_line(self, line: str) -> str | None:
        """Judge one `journalctl -o json` line; returns its cursor."""
        self.lines += 1
        record, cursor = journal_record(line)
        if record is None and cursor is None:
            self._unparsed(line)
        if record is not None:
            self._auth(record)
        return cursor

    def _auth(self, record: AuthRecord) -> None:
        if self.trusted_nets and self.is_trusted(record.src):
            return
        self.last_ts = record.ts
        self.ssh.feed(record)
        if record.ts >= self._next_tick:
            self.tick(record.ts)

    def request(self, request: Request) -> None:
        self.web.feed(request)

    def is_trusted(self, src: str) -> bool:
        found = self._trusted.get(src)
        if found is None:
            try:
                ip = ipaddress.ip_address(src)
                found = any(ip.version == n.version and ip in n for n in self.trusted_nets)
            except ValueError:
                found = False
            if len(self._trusted) >= 65536:
                self._trusted.clear()
            self._trusted[src] = found
        return found

    def _unparsed(self, line: str) -> None:
        self.unparsed += 1
        if len(self.unparsed_sample) < MAX_SAMPLES:
            self.unparsed_sample.append(line[:SAMPLE_CHARS])

    def line_too_long(self, head: str) -> None:
        """A line past the length bound: counted and sampled, its rest skipped by the reader."""
        self.too_long += 1
        self._unparsed(head)

    def tick(self, now: float) -> None:
        """Advance time (log time offline, the clock live): close quiet findings, judge ended windows."""
        self._next_tick = now + 1.0
        self.web.tick(now)
        self.findings.tick(now)

    def finish(self) -> None:
        self.web.tick(self.last_ts + 1e9)
        self.findings.close_all()

    def learn_new_script(self, url_path: str, file_path: str, ts: float) -> None:
        self.web.learn_new_script(url_path, file_path, ts)

    def stats(self) -> dict[str, Any]:
        return {"lines": self.lines, "unparsed": self.unparsed, "too_long": self.too_long,
                "unparsed_sample": list(self.unparsed_sample), "findings_open": len(self.findings.open),
                "findings": self.findings.total,
                "sources_tracked": len(self.web.login_state) + len(self.web.probe_state) + len(self.ssh.state),
                "sources_refused": self.web.login_state.refused + self.web.probe_state.refused
                + self.ssh.state.refused}
