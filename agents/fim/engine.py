"""The change engine: one path at a time, compare the disk with the baseline and emit one event per change.

Every source (inotify, a rescan, the rolling re-hash) ends in `reconcile(path)`. It re-reads the
path's metadata, hashes only when the stat gate moved, classifies against the baseline, emits, and
updates the baseline. So a write seen three times (created, modified, closed) makes one event: the
second and third look find nothing new. All of it runs under one lock.

The baseline only ever holds what the collector will hear about. When `emit` is durable (the agent's
outbox: `emit(event, receipt)`), a change waits in `pending` until its event is committed to the spool,
and only then moves the baseline; if the spool cannot take it (disk full), the change is dropped from
`pending` and the next rescan finds it again. Event ids are derived from the change itself (path,
before, after), so an event made twice after a crash is stored once by the collector.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from govwatch.agents.base import Receipt
from govwatch.agents.fim.baseline import Baseline, FileState
from govwatch.agents.fim.beneath import Roots
from govwatch.agents.fim.evidence import KnownGoodStore, bounded_diff, webshell_markers, withheld
from govwatch.agents.fim.rules import FimRules, Verdict, build_record
from govwatch.agents.fim.scan import Excluder, classify, hash_file, lstat_state
from govwatch.agents.paths import display, with_raw
from govwatch.events import SEVERITY_RANK, Event

log = logging.getLogger("govwatch.fim")
FOLD_SECONDS = 1.0  # attribute settling right after a write (cp -p, install -m) belongs to that write


class Engine:
    """Baseline + rules + evidence; `reconcile` turns the state of one path into at most one event."""

    def __init__(self, cfg: dict[str, Any], baseline: Baseline, rules: FimRules, store: KnownGoodStore | None,
                 emit: Callable[[Event], None], clock: Callable[[], float] = time.time) -> None:
        self.cfg, self.baseline, self.rules, self.store = cfg, baseline, rules, store
        self.emit, self.clock = emit, clock
        self.durable_emit = bool(getattr(emit, "durable", False))
        self.pending: dict[str, tuple[int, FileState | None]] = {}  # path -> (token, state) not yet on disk
        self.lost_dirs: set[str] = set()  # folders holding a change the spool could not take
        self._plock = threading.Lock()  # pending + baseline writes (also taken by the spool writer)
        self._tokens = itertools.count(1)
        self.roots: list[str] = cfg["paths"]
        self._roots = Roots(self.roots)
        self.web_roots: list[str] = cfg["web_roots"]
        self.excluded = Excluder(cfg["exclude"])
        self.lock = threading.RLock()
        self.recent: dict[str, float] = {}
        self.unreadable: set[str] = set()
        self.counts = {"files_hashed": 0, "events": 0, "ignored": 0, "unreadable": 0}

    def root_of(self, path: str) -> str | None:
        return self._roots.root_of(path)

    # --- the one entry point -------------------------------------------------------------------
    def reconcile(self, path: str, old_path: str | None = None, fold_attributes: bool = False,
                  force_hash: bool = False) -> str | None:
        """Bring the baseline entry of `path` up to date; emit the change if there is one; return its kind."""
        root = self.root_of(path)
        if root is None or (path != root and self.excluded(path)):
            return None
        with self.lock:
            before = self.known(path)
            after = lstat_state(path, root)
            content = None
            if after is not None and after.type == "file":
                after, content = self._content_state(path, root, before, after, force_hash)
            kind = classify(before, after)
            if after is None and before is not None and before.type == "dir":
                self._remove_subtree(path)
            if kind is None:
                if after is not None and after != before:
                    self._settle(path, after)  # times only (a touch): keep the gate current
                return None
            if kind == "attributes" and fold_attributes and self.clock() - self.recent.get(path, 0) < FOLD_SECONDS:
                self._settle(path, after)
                return None
            self._report(path, root, kind, before, after, content, old_path)
            return kind

    def _content_state(self, path: str, root: str, before: FileState | None, after: FileState,
                       force: bool) -> tuple[FileState, bytes | None]:
        if before is not None and not force and before.gate() == after.gate():
            return before, None
        try:
            digest, content = hash_file(path, self.cfg["max_hash_size"], keep=self.cfg["diff_max_file"], root=root,
                                        inode=after.inode)
        except FileNotFoundError:
            return after, None
        except OSError as exc:
            self._unreadable(path, root=self.root_of(path) or "", detail=f"cannot read: {exc.strerror}")
            return after._replace(sha256=before.sha256 if before else None), None
        self.counts["files_hashed"] += 1
        self.unreadable.discard(path)
        return after._replace(sha256=digest, hashed_at=int(self.clock())), content

    def _remove_subtree(self, folder: str) -> None:
        children = dict(self.baseline.under(folder))
        with self._plock:
            prefix = folder.rstrip("/") + "/"
            children.update({p: s for p, (_t, s) in self.pending.items() if p.startswith(prefix)})
        for child, before in sorted(children.items(), reverse=True):
            if before is not None and lstat_state(child, self.root_of(child)) is None:
                self._report(child, self.root_of(child) or folder, "deleted", before, None, None, None)

    # --- what is durable -----------------------------------------------------------------------
    def known(self, path: str) -> FileState | None:
        """The state the collector has been (or is being) told about: pending first, then the baseline."""
        with self._plock:
            if path in self.pending:
                return self.pending[path][1]
            return self.baseline.files.get(path)

    def _settle(self, path: str, state: FileState | None) -> None:
        """Record a state that makes no event (a touch, an ignored change): behind any pending one."""
        with self._plock:
            if path in self.pending:
                self.pending[path] = (self.pending[path][0], state)
            else:
                self._apply(path, state)

    def _apply(self, path: str, state: FileState | None) -> None:
        if state is None:
            self.baseline.apply({}, [path])
        else:
            self.baseline.apply({path: state})

    def _publish(self, path: str, event: Event, after: FileState | None) -> None:
        """Hand the event on; the baseline moves now (plain emit) or once it is on disk (durable emit)."""
        if not self.durable_emit:
            with self._plock:
                self._apply(path, after)
            self.emit(event)
            return
        with self._plock:
            token = next(self._tokens)
            self.pending[path] = (token, after)
        self.emit(event, Receipt(self, (path, token, after)))  # type: ignore[call-arg]

    def settle(self, keys: list[tuple[str, int, FileState | None]], ok: bool) -> None:
        """Called by the spool writer once per batch: the events are on disk (ok), so the baseline takes
        their states in one transaction; or they could not be written, so they are forgotten (the
        baseline keeps the old states and a rescan reports the changes again)."""
        states: dict[str, FileState | None] = {}
        with self._plock:
            for path, token, after in keys:
                current = self.pending.get(path)
                mine = current is not None and current[0] == token
                if mine:
                    del self.pending[path]
                if ok:
                    states[path] = current[1] if mine and current is not None else after
                else:
                    self.lost_dirs.add(os.path.dirname(path))
                    self.counts["unsent"] = self.counts.get("unsent", 0) + 1
            if not states:
                return
            try:
                self.baseline.apply({p: s for p, s in states.items() if s is not None},
                                    [p for p, s in states.items() if s is None])
            except Exception as exc:  # e.g. the baseline's disk is full too: the rescan re-emits (same id)
                log.warning("fim: baseline not updated for %d changes: %s", len(states), exc)
                self.lost_dirs.update(os.path.dirname(p) for p in states)

    def unsettled(self) -> set[str]:
        """Paths and folders whose folder gate must not be recorded now (a change not durable yet)."""
        with self._plock:
            paths = set(self.pending) | self.lost_dirs
            self.lost_dirs = set()
        return paths | {os.path.dirname(p) for p in paths}

    # --- evidence and emission -----------------------------------------------------------------
    def _report(self, path: str, root: str, kind: str, before: FileState | None, after: FileState | None,
                content: bytes | None, old_path: str | None) -> None:
        web = root in self.web_roots
        markers = webshell_markers(content) if kind in ("created", "modified") else []
        record = build_record(path, kind, root, web, after or before, markers, old_path)
        verdict = self.rules.judge(record)
        if kind in ("created", "modified"):
            self.recent[path] = self.clock()
        if verdict.ignored:
            self.counts["ignored"] += 1
            self._settle(path, after)
            return
        diff = self._diff(path, web, before, after, content)
        known_good = self._keep_copy(path, web, after, content, verdict)
        data: dict[str, Any] = {"change": kind, "root": root, "before": before.to_json() if before else None,
                                "after": after.to_json() if after else None, "rules": verdict.rule_ids,
                                "diff": diff, "known_good": known_good, "webshell_markers": markers}
        with_raw(data, "path", path)
        with_raw(data, "old_path", old_path)
        self.counts["events"] += 1
        event = Event("fim", data, verdict.severity, display(verdict.summary), id=change_id(path, kind, before, after))
        self._publish(path, event, after)
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
        return bounded_diff(old, content, display(path), self.cfg["max_diff_bytes"])

    def _keep_copy(self, path: str, web: bool, after: FileState | None, content: bytes | None,
                   verdict: Verdict) -> bool:
        if self.store is None or not web:
            return False
        try:
            if after is not None and after.type == "file" and not withheld(path, self.cfg["nodiff"]):
                trusted = SEVERITY_RANK[verdict.severity] < SEVERITY_RANK["high"]
                self.store.remember(path, after, trusted=trusted, content=content, root=self.root_of(path))
            return self.store.has_copy(path)
        except Exception as exc:  # a full disk must not stop the event; the copy is made next time
            self.counts["copy_failures"] = failures = self.counts.get("copy_failures", 0) + 1
            if failures == 1 or failures % 1000 == 0:
                log.warning("fim: no known-good copy of %s: %s (%d so far)", display(path), exc, failures)
            return False

    def _unreadable(self, path: str, root: str, detail: str) -> None:
        if path in self.unreadable:
            return  # reported once until it becomes readable again
        self.unreadable.add(path)
        self.counts["unreadable"] += 1
        data = {"problem": "unreadable", "detail": detail}
        with_raw(data, "path", path)
        self.emit(Event("fim_status", data, "low", f"cannot read {display(path)}: {detail}"))

    def _prune_recent(self) -> None:
        if len(self.recent) > 4096:
            horizon = self.clock() - FOLD_SECONDS
            self.recent = {p: t for p, t in self.recent.items() if t >= horizon}

    def status(self, problem: str, detail: str, path: str, severity: str = "medium") -> None:
        """Emit a fim_status event (baseline_tampered, overflow, watch_limit, rescan)."""
        log.warning("fim: %s: %s (%s)", problem, detail, display(path))
        data = {"problem": problem, "detail": display(detail)}
        with_raw(data, "path", path)
        self.emit(Event("fim_status", data, severity, f"file integrity watcher: {problem}: {display(detail)}"))

    def remember_all(self, files: dict[str, FileState]) -> None:
        """Keep known-good copies of web-root files after a fresh baseline (bounded by the store)."""
        if self.store is None:
            return
        web = [(p, s) for p, s in files.items() if s.type == "file" and self.root_of(p) in self.web_roots
               and not withheld(p, self.cfg["nodiff"])]
        self.store.remember_many(web, self.root_of)

    def is_gone(self, path: str) -> bool:
        return not os.path.lexists(path)


def change_id(path: str, kind: str, before: FileState | None, after: FileState | None) -> str:
    """The same change always gets the same id (not the hashing time): a re-emission is a duplicate."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((kind, before[:10] if before else None, after[:10] if after else None)).encode())
    digest.update(b"\0" + path.encode("utf-8", "surrogateescape"))
    return "fim-" + digest.hexdigest()
