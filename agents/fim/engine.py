"""The change engine: one path at a time, compare the disk with the baseline and emit one event per change.

Every source (inotify, a rescan, the rolling re-hash) ends in `reconcile(path)`. It re-reads the
path's metadata, hashes only when the stat gate moved, classifies against the baseline, emits, and
updates the baseline in the same step. So a write seen three times (created, modified, closed) makes
one event: the second and third look find nothing new. All of it runs under one lock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from govwatch.agents.fim.baseline import Baseline, FileState
from govwatch.agents.fim.evidence import KnownGoodStore, bounded_diff, webshell_markers, withheld
from govwatch.agents.fim.rules import FimRules, Verdict, build_record
from govwatch.agents.fim.scan import Excluder, classify, hash_file, lstat_state, under
from govwatch.events import SEVERITY_RANK, Event

log = logging.getLogger("govwatch.fim")
FOLD_SECONDS = 1.0  # attribute settling right after a write (cp -p, install -m) belongs to that write


class Engine:
    """Baseline + rules + evidence; `reconcile` turns the state of one path into at most one event."""

    def __init__(self, cfg: dict[str, Any], baseline: Baseline, rules: FimRules, store: KnownGoodStore | None,
                 emit: Callable[[Event], None], clock: Callable[[], float] = time.time) -> None:
        self.cfg, self.baseline, self.rules, self.store = cfg, baseline, rules, store
        self.emit, self.clock = emit, clock
        self.roots: list[str] = cfg["paths"]
        self.web_roots: list[str] = cfg["web_roots"]
        self.excluded = Excluder(cfg["exclude"])
        self.lock = threading.RLock()
        self.recent: dict[str, float] = {}
        self.unreadable: set[str] = set()
        self.counts = {"files_hashed": 0, "events": 0, "ignored": 0, "unreadable": 0}

    def root_of(self, path: str) -> str | None:
        return next((r for r in self.roots if under(path, [r])), None)

    # --- the one entry point -------------------------------------------------------------------
    def reconcile(self, path: str, old_path: str | None = None, fold_attributes: bool = False,
                  force_hash: bool = False) -> str | None:
        """Bring the baseline entry of `path` up to date; emit the change if there is one; return its kind."""
        root = self.root_of(path)
        if root is None or (path != root and self.excluded(path)):
            return None
        with self.lock:
            before = self.baseline.files.get(path)
            after = lstat_state(path)
            content = None
            if after is not None and after.type == "file":
                after, content = self._content_state(path, before, after, force_hash)
            kind = classify(before, after)
            if after is None and before is not None and before.type == "dir":
                self._remove_subtree(path)
            if kind is None:
                if after is not None and after != before:
                    self.baseline.apply({path: after})  # times only (a touch): keep the gate current
                return None
            if kind == "attributes" and fold_attributes and self.clock() - self.recent.get(path, 0) < FOLD_SECONDS:
                self.baseline.apply({path: after})
                return None
            self._report(path, root, kind, before, after, content, old_path)
            return kind

    def _content_state(self, path: str, before: FileState | None, after: FileState,
                       force: bool) -> tuple[FileState, bytes | None]:
        if before is not None and not force and before.gate() == after.gate():
            return before, None
        try:
            digest, content = hash_file(path, self.cfg["max_hash_size"], keep=self.cfg["diff_max_file"])
        except FileNotFoundError:
            return after, None
        except OSError as exc:
            self._unreadable(path, root=self.root_of(path) or "", detail=f"cannot read: {exc.strerror}")
            return after._replace(sha256=before.sha256 if before else None), None
        self.counts["files_hashed"] += 1
        self.unreadable.discard(path)
        return after._replace(sha256=digest, hashed_at=int(self.clock())), content

    def _remove_subtree(self, folder: str) -> None:
        for child, before in sorted(self.baseline.under(folder), reverse=True):
            if lstat_state(child) is None:
                self._report(child, self.root_of(child) or folder, "deleted", before, None, None, None)

    # --- evidence and emission -----------------------------------------------------------------
    def _report(self, path: str, root: str, kind: str, before: FileState | None, after: FileState | None,
                content: bytes | None, old_path: str | None) -> None:
        web = root in self.web_roots
        markers = webshell_markers(content) if kind in ("created", "modified") else []
        record = build_record(path, kind, root, web, after or before, markers, old_path)
        verdict = self.rules.judge(record)
        if after is None:
            self.baseline.apply({}, [path])
        else:
            self.baseline.apply({path: after})
        if kind in ("created", "modified"):
            self.recent[path] = self.clock()
        if verdict.ignored:
            self.counts["ignored"] += 1
            return
        diff = self._diff(path, web, before, after, content)
        known_good = self._keep_copy(path, web, after, content, verdict)
        data = {"path": path, "change": kind, "root": root, "before": before.to_json() if before else None,
                "after": after.to_json() if after else None, "old_path": old_path, "rules": verdict.rule_ids,
                "diff": diff, "known_good": known_good, "webshell_markers": markers}
        self.counts["events"] += 1
        self.emit(Event("fim", data, verdict.severity, verdict.summary))
        self._prune_recent()

    def _diff(self, path: str, web: bool, before: FileState | None, after: FileState | None,
              content: bytes | None) -> str | None:
        if not web or after is None or after.type != "file" or content is None:
            return None
        if withheld(path, self.cfg["nodiff"]):
            return None
        old = b""
        if before is not None and before.type == "file":
            if self.store is None or before.sha256 is None:
                return None
            old = self.store.content(before.sha256)
            if old is None:
                return None
        return bounded_diff(old, content, path, self.cfg["max_diff_bytes"])

    def _keep_copy(self, path: str, web: bool, after: FileState | None, content: bytes | None,
                   verdict: Verdict) -> bool:
        if self.store is None or not web:
            return False
        if after is not None and after.type == "file" and not withheld(path, self.cfg["nodiff"]):
            trusted = SEVERITY_RANK[verdict.severity] < SEVERITY_RANK["high"]
            self.store.remember(path, after, trusted=trusted, content=content)
        return self.store.has_copy(path)

    def _unreadable(self, path: str, root: str, detail: str) -> None:
        if path in self.unreadable:
            return  # reported once until it becomes readable again
        self.unreadable.add(path)
        self.counts["unreadable"] += 1
        self.emit(Event("fim_status", {"problem": "unreadable", "detail": detail, "path": path}, "low",
                        f"cannot read {path}: {detail}"))

    def _prune_recent(self) -> None:
        if len(self.recent) > 4096:
            horizon = self.clock() - FOLD_SECONDS
            self.recent = {p: t for p, t in self.recent.items() if t >= horizon}

    def status(self, problem: str, detail: str, path: str, severity: str = "medium") -> None:
        """Emit a fim_status event (baseline_tampered, overflow, watch_limit, rescan)."""
        log.warning("fim: %s: %s (%s)", problem, detail, path)
        self.emit(Event("fim_status", {"problem": problem, "detail": detail, "path": path}, severity,
                        f"file integrity watcher: {problem}: {detail}"))

    def remember_all(self, files: dict[str, FileState]) -> None:
        """Keep known-good copies of web-root files after a fresh baseline (bounded by the store)."""
        if self.store is None:
            return
        web = [(p, s) for p, s in files.items() if s.type == "file" and self.root_of(p) in self.web_roots
               and not withheld(p, self.cfg["nodiff"])]
        self.store.remember_many(web)

    def is_gone(self, path: str) -> bool:
        return not os.path.lexists(path)
