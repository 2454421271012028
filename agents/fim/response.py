"""Responses to FIM findings: the `fim quarantine` command and the optional automatic response.

Automatic response is off unless a web root asks for it in `fim.response` (Wazuh's active response and
"restorer" products are the model). Safeguards: it acts only on files inside the web root that enabled it
(never outside any web root, never through a symlink), a new *script* only in that root's upload folders
is quarantined, a defaced page is only ever replaced by its trusted known-good copy, and at most
`max_actions` actions happen per `window` (a runaway loop or a mass deployment stops, with one event
saying so). Every action is an `agent` event that carries the exact command that undoes it.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO, Any

from govwatch.agents.fim.quarantine import entries, find, quarantine, quarantine_dir, under, undo
from govwatch.agents.fim.rules import SCRIPT_EXTS
from govwatch.errors import GovwatchError
from govwatch.events import SEVERITY_RANK, Event
from govwatch.schema import Field

log = logging.getLogger(__name__)

RESPONSE = Field("map", fields={
    "root": Field("str", required=True, doc="the web root this applies to (one of fim.paths)"),
    "quarantine_uploads": Field("list", item=Field("str"), default=[],
                                doc="folders under root (e.g. wp-content/uploads) where a new script is quarantined"),
    "restore_defaced": Field("bool", default=False, doc="put back the known-good copy of a modified page"),
    "restore_min_severity": Field("str", default="high", choices=("medium", "high", "critical")),
    "max_actions": Field("int", default=5, minimum=1, maximum=1000, doc="at most this many actions per window"),
    "window": Field("duration", default=600.0, minimum=1.0, maximum=86400.0),
})
SCHEMA = Field("list", item=RESPONSE, default=[], doc="automatic response per web root (off when empty)")


def action_event(cfg: dict[str, Any], action: str, path: str, detail: dict[str, Any], undo_cmd: str,
                 by: str) -> Event:
    data = {"problem": "response", "notice": "response", "action": action, "path": path, "by": by,
            "undo": undo_cmd, **detail}
    return Event("agent", data, "high" if by == "auto" else "medium",
                 f"{cfg['name']}: {action} {path} ({by}); undo: {undo_cmd}")


def _command(cfg: dict[str, Any], *words: str) -> str:
    return " ".join(["govwatch", "fim", *words[:1], "-c", shlex.quote(cfg["config_file"]),
                     *(shlex.quote(w) for w in words[1:])])


def _report(cfg: dict[str, Any], event: Event) -> None:
    """Hand the event to the agent's spool (the running agent sends it); a CLI must not fail for this."""
    from govwatch.agents.spool import Spool

    try:
        spool = Spool(cfg["spool"], cfg["spool_max"])
        try:
            spool.put([event])
        finally:
            spool.close()
    except Exception as exc:  # the action is done; say that the collector was not told
        log.warning("could not queue the event for the collector in %s: %s", cfg["spool"], exc)


def run_quarantine(args: argparse.Namespace, out: IO[str]) -> int:
    """`fim quarantine -c agent.yml PATH [--undo] [--list]`."""
    from govwatch.agents.config import load_agent_config

    cfg = load_agent_config(args.config)
    folder = quarantine_dir(cfg)
    if args.list:
        for meta in entries(folder):
            out.write(f"{meta['id']}  {meta['path']}  sha256 {meta['sha256']}  ({meta['by']})\n")
        return 0
    if not args.path:
        raise GovwatchError("fim quarantine: name the file (PATH), or use --list")
    path = os.path.abspath(args.path)
    if args.undo:
        meta = undo(folder, path if find(folder, path) else args.path)  # a path, or an entry ID from --list
        redo = _command(cfg, "quarantine", meta["path"])
        _report(cfg, action_event(cfg, "unquarantine", meta["path"], {"id": meta["id"]}, redo, "manual"))
        out.write(f"put back {meta['path']} (mode {meta['mode']}, sha256 {meta['sha256']})\n")
        return 0
    roots = (cfg.get("fim") or {}).get("paths") or []
    if not under(path, roots):
        raise GovwatchError(f"{path} is not under any fim.paths of {args.config}; quarantine works only there")
    meta = quarantine(folder, path, "manual", "by hand")
    undo_cmd = _command(cfg, "quarantine", meta["path"], "--undo")
    _report(cfg, action_event(cfg, "quarantine", path, {"id": meta["id"], "sha256": meta["sha256"]},
                              undo_cmd, "manual"))
    out.write(f"quarantined {path} (sha256 {meta['sha256']}) into {folder}/{meta['id']}\nundo: {undo_cmd}\n")
    return 0


class AutoResponder:
    """Wraps the FIM watcher's emit: after each event is passed on, act on it if its web root asked to."""

    def __init__(self, rules: list[dict[str, Any]], web_roots: list[str], agent_cfg: dict[str, Any], store: Any,
                 emit: Callable[[Event], None], clock: Callable[[], float] = time.time) -> None:
        self.rules = [dict(r, root=os.path.normpath(r["root"])) for r in rules]
        for rule in self.rules:
            if rule["root"] not in web_roots:
                raise GovwatchError(f"fim.response: root {rule['root']} is not one of fim.web_roots "
                                    f"({', '.join(web_roots) or 'none'}); automatic response acts only in web roots")
        self.cfg, self.store, self.emit, self.clock = agent_cfg, store, emit, clock
        self.folder = quarantine_dir(agent_cfg)
        self.done: dict[str, deque[float]] = {}
        self.paused_until: dict[str, float] = {}
        self.lock = threading.Lock()

    @property
    def durable(self) -> bool:
        """Wrapping must not cost the engine its durable outbox (the baseline moves only once an event is on disk)."""
        return bool(getattr(self.emit, "durable", False))

    def __call__(self, event: Event, done: Any = None) -> None:
        if done is not None:
            self.emit(event, done)
        else:
            self.emit(event)
        if event.kind != "fim":
            return
        try:
            self._respond(event)
        except Exception as exc:  # a response must never break detection
            log.warning("automatic response to %s failed: %s", event.data.get("path"), exc)

    def _respond(self, event: Event) -> None:
        path, change = str(event.data.get("path") or ""), event.data.get("change")
        rule = next((r for r in self.rules if under(path, [r["root"]])), None)
        if rule is None or os.path.islink(path):
            return
        if change == "created" and self._in_uploads(path, rule) and _is_script(path):
            self._act(lambda: self._quarantine(path), rule)
        elif change in ("modified", "deleted") and rule["restore_defaced"] and self.store is not None \
                and SEVERITY_RANK[event.severity] >= SEVERITY_RANK[rule["restore_min_severity"]]:
            self._act(lambda: self._restore(path), rule)

    def _in_uploads(self, path: str, rule: dict[str, Any]) -> bool:
        folders = [os.path.join(rule["root"], f.strip("/")) for f in rule["quarantine_uploads"]]
        return bool(folders) and under(path, folders) is not None

    def _act(self, action: Callable[[], Event | None], rule: dict[str, Any]) -> None:
        """Run `action` unless this root already used its `max_actions` in the last `window` seconds."""
        with self.lock:
            now, done = self.clock(), self.done.setdefault(rule["root"], deque())
            while done and done[0] <= now - rule["window"]:
                done.popleft()
            if len(done) >= rule["max_actions"]:
                if now >= self.paused_until.get(rule["root"], 0.0):
                    self.paused_until[rule["root"]] = done[0] + rule["window"]
                    self.emit(Event("agent", {"problem": "response_paused", "notice": "response_paused",
                                              "root": rule["root"], "limit": rule["max_actions"],
                                              "window": rule["window"]}, "high",
                                    f"{self.cfg['name']}: automatic response in {rule['root']} paused after "
                                    f"{rule['max_actions']} actions in {rule['window']:g}s; act by hand"))
                return
            event = action()
            if event is not None:
                done.append(now)
                self.emit(event)

    def _quarantine(self, path: str) -> Event:
        meta = quarantine(self.folder, path, "auto", "new script in an upload folder")
        return action_event(self.cfg, "quarantine", path, {"id": meta["id"], "sha256": meta["sha256"]},
                            _command(self.cfg, "quarantine", path, "--undo"), "auto")

    def _restore(self, path: str) -> Event | None:
        from govwatch.agents.fim.evidence import restore

        versions = self.store.versions(path)
        bad = next((v["sha256"] for v in versions if not v["trusted"]), None)
        message = restore(self.store, path)
        if message.endswith("nothing to do"):
            return None
        undo_cmd = _command(self.cfg, "restore", path, "--sha256", bad) if bad else "(replaced content not kept)"
        return action_event(self.cfg, "restore", path, {"detail": message}, undo_cmd, "auto")


def _is_script(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in SCRIPT_EXTS
