"""The agent's `logs` watcher: web-server access logs and sshd auth logs, judged as they are written.

It sees what the packet watcher cannot over HTTPS (paths, statuses, user agents) and what sshd decided.
One thread polls the followed files; the journal (when configured) has its own reader thread; both feed one
engine under one lock. Positions persist in the agent's data_dir so a restart neither re-reads nor skips.
FIM events emitted by the same agent are observed (`observe`): a script FIM saw created becomes a watched
URL, and requests to it are web-shell use.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

from govwatch.agents.base import Emit, register
from govwatch.events import Event
from govwatch.schema import Field, check_cidr

from . import rules as log_rules
from .engine import Engine
from .findings import Finding
from .follow import FileFollower
from .formats import PRESETS, FormatError, build_parser
from .journal import JournalFollower, journal_command

log = logging.getLogger("govwatch.logs")


def _absolute(value: str) -> str | None:
    return None if os.path.isabs(value) else f"must be an absolute path (got {value!r})"


def _format(value: str) -> str | None:
    try:
        build_parser(value)
    except FormatError as exc:
        return f"{exc} (or use one of: {', '.join(PRESETS)})"
    return None


def _login_path(value: str) -> str | None:
    return None if value.startswith("/") and len(value) <= 200 else f"must be a URL path starting with / ({value!r})"


def _auth(value: dict[str, Any]) -> str | None:
    if bool(value.get("path")) == bool(value.get("journal")):
        return "give either path (e.g. /var/log/auth.log) or journal: true"
    return None


def _sections(value: dict[str, Any]) -> str | None:
    return None if value.get("access") or value.get("auth") else "give access logs, auth, or both"


ACCESS = Field("map", fields={
    "path": Field("str", required=True, check=_absolute, doc="the access log, e.g. /var/log/nginx/access.log"),
    "format": Field("str", default="nginx", check=_format, doc="nginx, apache, or a log_format / LogFormat string"),
    "root": Field("str", default=None, check=_absolute, doc="its document root (maps FIM paths to URLs)"),
})
SCHEMA = Field("map", check=_sections, fields={
    "access": Field("list", item=ACCESS, default=[], doc="web-server access logs to follow"),
    "auth": Field("map", default=None, check=_auth, fields={
        "path": Field("str", default=None, check=_absolute, doc="sshd's syslog file, e.g. /var/log/auth.log"),
        "journal": Field("bool", default=False, doc="read sshd from the systemd journal (journalctl -o json -f)"),
    }),
    "from_start": Field("bool", default=False, doc="read files without a saved position from the start"),
    "rules": Field("str", default=None, doc="logs rules folder (default: the installed rules/logs)"),
    "login_paths": Field("list", item=Field("str", check=_login_path), default=[],
                         doc="the site's own login URLs, besides the CMS ones in the rule"),
    "trusted": Field("list", item=Field("str", check=check_cidr), default=[],
                     doc="sources never judged (monitoring, the office), addresses or CIDRs"),
    "max_line": Field("size", default=16 * 1024, minimum=1024, doc="longer lines are cut, counted and sampled"),
    "max_sources": Field("int", default=20000, minimum=100, doc="bound on sources tracked per detector"),
    "poll_interval": Field("duration", default=0.5, minimum=0.05, doc="how often files are read"),
    "update_interval": Field("duration", default=10.0, minimum=0.5, doc="new evidence of an open finding is sent"),
    "state_file": Field("str", default=None, doc="saved positions (default: data_dir/logs-positions.json)"),
})


def describe(cfg: dict[str, Any]) -> list[str]:
    lines = [f"logs: {a['path']} ({a['format'] if a['format'] in PRESETS else 'custom format'})"
             for a in cfg["access"]]
    auth = cfg.get("auth")
    if auth:
        lines.append(f"logs: sshd from {'the systemd journal' if auth['journal'] else auth['path']}")
    return lines


class LogsWatcher:
    """Followers + engine; `observe(event)` learns FIM-created scripts; `stats()` for the heartbeat."""

    name = "logs"

    def __init__(self, cfg: dict[str, Any], agent_cfg: dict[str, Any], clock=time.time,
                 journal=journal_command) -> None:
        self.cfg, self.clock, self.journal_cmd = cfg, clock, journal
        self.rules = log_rules.load(cfg.get("rules"))
        data_dir = agent_cfg.get("data_dir")
        self.state_file = cfg.get("state_file") or (os.path.join(data_dir, "logs-positions.json") if data_dir
                                                    else None)
        self.lock = threading.Lock()
        self.engine = Engine(self.rules, self._finding, cfg["trusted"], cfg["login_paths"], cfg["max_sources"],
                             update_every=cfg["update_interval"])
        self.followers: list[FileFollower] = []
        self.journal: JournalFollower | None = None
        self._emit: Emit | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()
        self._format_warned = False

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self, emit: Emit) -> None:
        self._emit = emit
        saved = self._load_positions()
        self.engine.web.flood.load_baselines(saved.pop("baselines", {}))
        for access in self.cfg["access"]:
            handler = self.engine.access_handler(access["format"])
            self.followers.append(FileFollower(access["path"], handler, self.engine.line_too_long,
                                               self.cfg["max_line"], saved.get(access["path"]),
                                               self.cfg["from_start"]))
        auth = self.cfg.get("auth")
        if auth and auth["path"]:
            self.followers.append(FileFollower(auth["path"], self.engine.auth_line, self.engine.line_too_long,
                                               self.cfg["max_line"], saved.get(auth["path"]), self.cfg["from_start"]))
        if auth and auth["journal"]:
            self.journal = JournalFollower(self.engine.journal_line, self.cfg["max_line"], saved.get("journal"),
                                           self.journal_cmd, self.lock)
        self._thread = threading.Thread(target=self._run, name="govwatch-logs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.journal is not None:
            self.journal.stop()
        with self.lock:
            self._save_positions()
            self.engine.findings.close_all()
        for follower in self.followers:
            follower.close()

    def _run(self) -> None:
        with self.lock:
            for follower in self.followers:
                follower.open()
        if self.journal is not None:
            self.journal.start()
        self.ready.set()
        last_save = self.clock()
        while True:
            stopping = self._stop.is_set()
            self._poll_once()
            now = self.clock()
            if now - last_save >= 5.0:
                last_save = now
                with self.lock:
                    self._save_positions()
            if stopping or self._stop.wait(self.cfg["poll_interval"]):
                if stopping:
                    return

    def _poll_once(self) -> None:
        with self.lock:
            for follower in self.followers:
                try:
                    follower.poll()
                except OSError as exc:  # an unreadable log must not stop the others
                    log.warning("logs: cannot read %s: %s", follower.path, exc)
            self.engine.tick(self.clock())
        self._check_format()

    def _check_format(self) -> None:
        """Most lines not fitting the format is a wrong `format:` (or a log that changed): say so once."""
        engine = self.engine
        if self._format_warned or engine.lines < 200 or engine.unparsed * 2 < engine.lines:
            return
        self._format_warned = True
        detail = (f"{engine.unparsed} of {engine.lines} log lines do not fit the configured format; "
                  f"first: {engine.unparsed_sample[0] if engine.unparsed_sample else ''!r}")
        log.warning("logs: %s", detail)
        if self._emit is not None:
            self._emit(Event("agent", {"problem": "log_format_mismatch", "watcher": "logs", "detail": detail[:500]},
                             "medium", f"logs watcher: {detail[:200]}"))

    # --- the FIM join ---------------------------------------------------------------------------
    def observe(self, event: Event) -> None:
        """A script FIM reports created under a document root becomes a URL to watch for web-shell use."""
        if event.kind != "fim" or event.data.get("change") != "created":
            return
        path = str(event.data.get("path") or "")
        roots = [a["root"] for a in self.cfg["access"] if a.get("root")] or [str(event.data.get("root") or "")]
        for root in roots:
            root = root.rstrip("/")
            if root and path.startswith(root + "/"):
                with self.lock:
                    self.engine.learn_new_script(path[len(root):], path, event.ts)
                return

    # --- findings -------------------------------------------------------------------------------
    def _finding(self, state: str, finding: Finding) -> None:
        if self._emit is None:
            return
        record = finding.record(fresh_only=True)
        rule = self.rules[finding.kind].rule
        text = rule.render({"src": finding.src, "kind": finding.kind, "evidence": record["evidence"]})
        data = {"kind": finding.kind, "state": state, **record}
        severity = finding.severity if state != "end" else "info"
        prefix = {"start": "", "update": "", "end": "ended: "}[state]
        self._emit(Event("logs", data, severity=severity, summary=prefix + text))

    def stats(self) -> dict[str, Any]:
        out = self.engine.stats()
        out["files"] = len(self.followers)
        out["rotations"] = sum(f.rotations for f in self.followers)
        out["truncations"] = sum(f.truncations for f in self.followers)
        if self.journal is not None and self.journal.problem:
            out["journal_problem"] = self.journal.problem
        return out

    # --- positions ------------------------------------------------------------------------------
    def _load_positions(self) -> dict[str, Any]:
        if not self.state_file or not os.path.exists(self.state_file):
            return {}
        try:
            with open(self.state_file, encoding="utf-8") as handle:
                saved = json.load(handle)
            return saved if isinstance(saved, dict) else {}
        except (OSError, ValueError) as exc:
            log.warning("logs positions %s unreadable (%s): starting at the end of each file", self.state_file, exc)
            return {}

    def _save_positions(self) -> None:
        if not self.state_file:
            return
        data: dict[str, Any] = {f.path: p for f in self.followers if (p := f.position()) is not None}
        if self.journal is not None and self.journal.cursor:
            data["journal"] = self.journal.cursor
        data["baselines"] = self.engine.web.flood.baseline   # learned per-path rates survive a restart
        tmp = self.state_file + ".tmp"
        try:
            os.makedirs(os.path.dirname(self.state_file) or ".", exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.state_file)
        except OSError as exc:
            log.warning("cannot save logs positions %s: %s", self.state_file, exc)


@register("logs", schema=SCHEMA, describe=describe)
def factory(section: dict[str, Any], agent_cfg: dict[str, Any]) -> LogsWatcher:
    return LogsWatcher(section, agent_cfg)
