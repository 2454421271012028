"""The agent's `fim` watcher: realtime inotify events, stat-gated rescans and a rolling full re-hash.

Three sources feed one engine (engine.py): watchdog events (a write is reported when the file is
closed, so latency is the time to hash it), a rescan every `rescan_interval` that re-reads content only
where stat moved, and a rolling re-hash that reads every file at least once per `full_rehash_period`
within a byte-rate budget. Overflow or exhausted inotify watches are counted, reported, and answered
with a rescan within seconds. State (sealed baseline, HMAC key, known-good copies) lives in
`data_dir/fim/`, outside any web root.
"""

from __future__ import annotations

import gc
import heapq
import logging
import os
import shutil
import threading
import time
from typing import Any

from govwatch.agents.base import Emit, register
from govwatch.agents.fim.baseline import Baseline, BaselineOutdated, BaselineTampered, load_or_create_key
from govwatch.agents.fim.engine import Engine
from govwatch.agents.fim.evidence import DEFAULT_NODIFF, KnownGoodStore
from govwatch.agents.fim.recheck import GatedWalk
from govwatch.agents.fim.rehash import RollingRehash
from govwatch.agents.fim.response import SCHEMA as RESPONSE_SCHEMA
from govwatch.agents.fim.response import AutoResponder
from govwatch.agents.fim.rules import FimRules
from govwatch.agents.fim.scan import Excluder, Hasher, Problem, walk_batches
from govwatch.durations import format_duration
from govwatch.progress import Progress
from govwatch.schema import Field

log = logging.getLogger("govwatch.fim")
TEMP_NAMES = (".", "#")  # editors' and tools' temporary files get `settle` before a created event
DEGRADED_RESCAN = 30.0


def _absolute(paths: list[str]) -> str | None:
    bad = [p for p in paths if not os.path.isabs(p)]
    return f"paths must be absolute (got {bad[0]!r})" if bad else None


SCHEMA = Field("map", fields={
    "paths": Field("list", required=True, item=Field("str"), check=_absolute, doc="folders or files to watch"),
    "exclude": Field("list", item=Field("str"), default=[], doc="globs on path or name never watched"),
    "web_roots": Field("list", item=Field("str"), check=_absolute,
                       doc="which paths are web roots (default: every path not under /etc)"),
    "rescan_interval": Field("duration", default=300.0, minimum=1, doc="stat-gated rescan period"),
    "full_rehash_period": Field("duration", default=86400.0, minimum=60, doc="every file re-hashed within"),
    "rehash_rate": Field("size", default=32 * 2**20, minimum=1, doc="bytes/s at most for the rolling re-hash"),
    "settle": Field("duration", default=1.0, doc="quiet time for writes that never close, and temp files"),
    "max_hash_size": Field("size", default=4 * 2**30, doc="larger files are tracked by metadata only"),
    "diff_max_file": Field("size", default=2**20, doc="text files up to this size get a diff"),
    "max_diff_bytes": Field("size", default=16 * 2**10, doc="diff text bound per event"),
    "nodiff": Field("list", item=Field("str"), default=list(DEFAULT_NODIFF), doc="never diffed nor copied"),
    "known_good": Field("bool", default=True, doc="keep known-good copies of web-root files"),
    "known_good_max_total": Field("size", default=512 * 2**20),
    "known_good_max_file": Field("size", default=4 * 2**20),
    "rules": Field("str", doc="FIM rules folder (default: the installed rules/fim)"),
    "response": RESPONSE_SCHEMA,  # automatic response per web root (agents/fim/response.py); off when empty
    "exceptions": Field("list", item=Field("map", extra_keys=True), default=[],
                        doc="user-known benign changes: selections like {path|startswith: ..., reason: ...}"),
})


def complete(cfg: dict[str, Any]) -> dict[str, Any]:
    """Fill derived defaults: normalised paths and web roots."""
    cfg = dict(cfg)
    cfg["paths"] = [os.path.normpath(p) for p in cfg["paths"]]
    if cfg.get("web_roots") is None:
        cfg["web_roots"] = [p for p in cfg["paths"] if not (p == "/etc" or p.startswith("/etc/"))]
    cfg["web_roots"] = [os.path.normpath(p) for p in cfg["web_roots"]]
    return cfg


def describe(cfg: dict[str, Any]) -> list[str]:
    cfg = complete(cfg)
    lines = [f"fim: {p} ({'web root' if p in cfg['web_roots'] else 'system'})" for p in cfg["paths"]]
    lines.append(f"fim: realtime inotify + rescan every {format_duration(cfg['rescan_interval'])}, "
                 f"every file re-hashed within {format_duration(cfg['full_rehash_period'])}")
    return lines


def state_dir(agent_cfg: dict[str, Any]) -> str:
    return os.path.join(agent_cfg.get("data_dir") or ".", "fim")


def store_dir_for_agent(config_path: str) -> str:
    """The known-good store of the agent configured in `config_path` (for `fim restore -c`): the same
    defaults the running agent uses (data_dir defaults to NAME-state beside the spool)."""
    from govwatch.agents.config import load_agent_config

    return os.path.join(state_dir(load_agent_config(config_path)), "known_good")


@register("fim", schema=SCHEMA, describe=describe)
def factory(section: dict[str, Any], agent_cfg: dict[str, Any]) -> FimWatcher:
    return FimWatcher(section, agent_cfg)


class FimWatcher:
    """The running watcher: threads for realtime events, pending settles and scans."""

    name = "fim"

    def __init__(self, section: dict[str, Any], agent_cfg: dict[str, Any], clock: Any = time.time,
                 realtime: bool = True) -> None:
        self.cfg = complete(section)
        self.folder, self.agent_cfg = state_dir(agent_cfg), agent_cfg
        self.clock, self.use_realtime = clock, realtime
        self.rules = FimRules.load(self.cfg.get("rules"), self.cfg["exceptions"])
        self.stop_event = threading.Event()
        self.wake = threading.Condition()
        self.pending: dict[str, tuple[float, str]] = {}
        self.heap: list[tuple[float, str]] = []
        self.rescan_roots: set[str] = set()
        self.lost_roots: set[str] = set()
        self.degraded: set[str] = set()
        self.threads: list[threading.Thread] = []
        self.engine: Engine | None = None
        self.ready = threading.Event()
        self.blind = False  # the baseline could not be built: nothing to compare with
        self.numbers = {"overflows": 0, "watch_limit": 0, "scan_seconds": 0.0, "rescans": 0}
        self.realtime: Any = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self, emit: Emit) -> None:
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        baseline = Baseline(os.path.join(self.folder, "baseline.db"), b"")
        store = None
        if self.cfg["known_good"]:
            store = KnownGoodStore(os.path.join(self.folder, "known_good"), self.cfg["known_good_max_total"],
                                   self.cfg["known_good_max_file"])
        if self.cfg["response"]:
            emit = AutoResponder(self.cfg["response"], self.cfg["web_roots"], self.agent_cfg, store, emit)
        self.engine = Engine(self.cfg, baseline, self.rules, store, emit, self.clock)
        if self.use_realtime:
            from govwatch.agents.fim.realtime import RealtimeWatch

            self.realtime = RealtimeWatch({root: _Sink(self, root) for root in self.cfg["paths"]})
            self.realtime.start()
            for root in self.cfg["paths"]:
                if not self.realtime.watch(root):
                    self.lost_roots.add(root)
        for target, name in ((self._scan_loop, "fim-scan"), (self._settle_loop, "fim-settle")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()
        with self.wake:
            self.wake.notify_all()
        if self.realtime is not None:
            self.realtime.stop()
        for thread in self.threads:
            thread.join(timeout=30)
        self.threads = []
        if self.engine is not None:
            with self.engine.lock:
                self.engine.baseline.close()
                if self.engine.store is not None:
                    self.engine.store.close()

    def stats(self) -> dict[str, Any]:
        engine = self.engine
        counts = engine.counts if engine else {}
        watched = len(engine.baseline.files) if engine and self.ready.is_set() else 0
        return {"watched_files": watched, "overflows": self.numbers["overflows"],
                "files_hashed": counts.get("files_hashed", 0), "scan_seconds": round(self.numbers["scan_seconds"], 3),
                "watch_limit": self.numbers["watch_limit"], "events": counts.get("events", 0),
                "ignored": counts.get("ignored", 0), "unreadable": counts.get("unreadable", 0)}

    # --- baseline ------------------------------------------------------------------------------
    def _open_baseline(self) -> None:
        """Load and verify the sealed baseline, or build one; a bad seal is reported loudly, then rebuilt."""
        engine = self.engine
        assert engine is not None
        db, key_path = engine.baseline.db_path, os.path.join(self.folder, "baseline.key")
        problem = None
        try:
            engine.baseline.key = load_or_create_key(key_path, create=not os.path.exists(db))
            if os.path.exists(db):
                engine.baseline.load()
                self._rescan(self.cfg["paths"])  # report what changed while the agent was down
                return
        except BaselineOutdated as exc:
            engine.status("rescan", f"{exc}; rebuilt from the current tree", db, "low")
        except BaselineTampered as exc:
            problem = str(exc)
        if problem:
            engine.status("baseline_tampered", problem + "; kept aside and rebuilt from the current tree", db,
                          "critical")
            for suffix in ("", "-wal", "-shm", ".seal"):
                if os.path.exists(db + suffix):
                    shutil.move(db + suffix, f"{db}.tampered-{int(self.clock())}{suffix}")
            if not os.path.exists(key_path):
                engine.baseline.key = load_or_create_key(key_path, create=True)
        self._build_baseline()

    def _build_baseline(self) -> None:
        engine = self.engine
        assert engine is not None
        started = time.monotonic()
        problems: list[Problem] = []
        gates: dict[str, bytes] = {}
        hasher = Hasher(max_hash_size=self.cfg["max_hash_size"], clock=self.clock, roots=self.cfg["paths"])
        build = engine.baseline.builder(self.cfg["paths"])
        with Progress("fim: first baseline", count=lambda: hasher.done, unit="files hashed"):  # log lines
            for batch in walk_batches(self.cfg["paths"], Excluder(self.cfg["exclude"]), problems, gates):
                hasher.fill(batch, [p for p, s in batch.items() if s.type == "file"], problems)
                build.add(batch)
                engine.remember_all(batch)
        build.finish(gates)
        engine.counts["files_hashed"] += hasher.files_hashed
        for problem in problems:
            engine._unreadable(problem.path, engine.root_of(problem.path) or "", problem.detail)
        self.numbers["scan_seconds"] = time.monotonic() - started

    # --- scans ---------------------------------------------------------------------------------
    def _scan_loop(self) -> None:
        engine = self.engine
        assert engine is not None
        with engine.lock:
            try:
                self._open_baseline()
            except Exception as exc:  # the agent must keep running; say why the watcher is blind
                log.exception("fim: cannot build the baseline")
                engine.status("rescan", f"baseline could not be built: {exc}", self.folder, "high")
                self.blind = True
                self.ready.set()
                return
        gc.freeze()  # rules, config and modules are long-lived: keep them out of every collection (latency)
        self.ready.set()
        next_full = time.monotonic() + self.cfg["rescan_interval"]
        next_degraded = time.monotonic() + DEGRADED_RESCAN
        rehash = RollingRehash(self)
        while not self.stop_event.wait(0.5):
            self._revive_lost_roots()
            now = time.monotonic()
            with self.wake:
                urgent, self.rescan_roots = self.rescan_roots, set()
            if now >= next_full:
                urgent |= set(self.cfg["paths"])
                next_full = now + self.cfg["rescan_interval"]
            if self.degraded and now >= next_degraded:
                urgent |= self.degraded
                next_degraded = now + DEGRADED_RESCAN
            try:
                if urgent:
                    self._rescan(sorted(urgent))
                rehash.step()
                engine.baseline.checkpoint()
                if engine.store is not None:
                    engine.store.checkpoint()
            except Exception as exc:  # keep scanning; one bad pass must not blind the watcher
                log.exception("fim: scan pass failed")
                engine.status("rescan", f"scan pass failed: {exc}", self.folder, "medium")

    def _rescan(self, roots: list[str]) -> None:
        """Stat-gated rescan: folders whose gate digest held are skipped whole (no per-file object); in the
        others, reconcile the paths whose gate moved, appeared or vanished; then record their new gates."""
        engine = self.engine
        assert engine is not None
        started = time.monotonic()
        problems: list[Problem] = []
        gated = GatedWalk(engine.baseline.gates())
        gated.run(roots, Excluder(self.cfg["exclude"]), problems)
        old, current = gated.baseline_rows(engine.baseline, roots), gated.current
        stale = [p for p, s in current.items() if p not in old or old[p].gate() != s.gate()]
        gone = [p for p in old if p not in current]
        for path in sorted(gone, reverse=True) + sorted(stale):
            engine.reconcile(path)
        with engine.lock:  # a gate older than a change can only mismatch later (ctime moves on), never hide it
            unreadable = [p.path for p in problems] + list(engine.unreadable)
            troubled = {os.path.dirname(p) for p in unreadable} | set(unreadable) | engine.unsettled()
            engine.baseline.set_gates({f: g for f, g in gated.fresh_gates.items() if f not in troubled})
        self.numbers["scan_seconds"] = time.monotonic() - started
        self.numbers["rescans"] += 1

    def _revive_lost_roots(self) -> None:
        """A watched root that was deleted and has come back is watched again and rescanned."""
        for root in sorted(self.lost_roots):
            if os.path.lexists(root) and (self.realtime is None or self.realtime.watch(root)):
                self.lost_roots.discard(root)
                self._rescan([root])

    def request_rescan(self, root: str) -> None:
        with self.wake:
            self.rescan_roots.add(root)

    def resync(self) -> None:
        """The spool could not take some events (disk full): rescan every root now that it can."""
        for root in self.cfg["paths"]:
            self.request_rescan(root)

    # --- realtime settling ---------------------------------------------------------------------
    def later(self, path: str, delay: float, hint: str) -> None:
        """Look at `path` after `delay` unless something newer comes first (debounce)."""
        due = time.monotonic() + delay
        with self.wake:
            self.pending[path] = (due, hint)
            heapq.heappush(self.heap, (due, path))
            self.wake.notify()

    def now(self, path: str, old_path: str | None = None, hint: str = "") -> None:
        with self.wake:
            self.pending.pop(path, None)
        if self._usable():
            self.engine.reconcile(path, old_path=old_path, fold_attributes=hint == "attrib")

    def _usable(self) -> bool:
        """Wait for the baseline (events queue meanwhile); False when stopping or blind."""
        while not self.ready.wait(0.5):
            if self.stop_event.is_set():
                return False
        return not self.blind and not self.stop_event.is_set() and self.engine is not None

    def _settle_loop(self) -> None:
        while not self.stop_event.is_set():
            with self.wake:
                while self.heap and self.pending.get(self.heap[0][1], (None,))[0] != self.heap[0][0]:
                    heapq.heappop(self.heap)  # superseded by a later deadline or already handled
                if not self.heap:
                    self.wake.wait(1.0)
                    continue
                due, path = self.heap[0]
                delay = due - time.monotonic()
                if delay > 0:
                    self.wake.wait(delay)
                    continue
                heapq.heappop(self.heap)
                _, hint = self.pending.pop(path)
            if self._usable():
                self.engine.reconcile(path, fold_attributes=hint == "attrib")


class _Sink:
    """What realtime.py calls; decides when to look at a path."""

    def __init__(self, watcher: FimWatcher, root: str) -> None:
        self.watcher, self.root = watcher, root

    def touched(self, path: str, hint: str) -> None:
        settle = self.watcher.cfg["settle"]
        name = os.path.basename(path)
        if hint == "closed" and not name.startswith(TEMP_NAMES):
            self.watcher.now(path)
        elif hint == "created" and not name.startswith(TEMP_NAMES) and (os.path.isdir(path) or os.path.islink(path)):
            self.watcher.now(path)
        elif hint == "attrib":
            self.watcher.later(path, min(0.2, settle), hint)
        else:
            self.watcher.later(path, settle, hint)

    def moved(self, src: str, dest: str) -> None:
        self.watcher.now(src)
        self.watcher.now(dest, old_path=src)

    def removed(self, path: str, is_dir: bool) -> None:
        self.watcher.now(path)

    def overflow(self, root: str) -> None:
        self.watcher.numbers["overflows"] += 1
        if self.watcher.engine is not None:
            self.watcher.engine.status("overflow", "inotify queue overflowed; rescanning", root, "medium")
        self.watcher.request_rescan(root)

    def watch_limit(self, root: str, path: str) -> None:
        self.watcher.numbers["watch_limit"] += 1
        if root not in self.watcher.degraded and self.watcher.engine is not None:
            self.watcher.engine.status("watch_limit", "inotify watches exhausted (raise fs.inotify.max_user_watches);"
                                       f" rescanning every {int(DEGRADED_RESCAN)}s", path, "high")
        self.watcher.degraded.add(root)
        self.watcher.request_rescan(root)

    def root_lost(self, root: str) -> None:
        self.watcher.lost_roots.add(root)
        self.watcher.now(root)
