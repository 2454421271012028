"""`govwatch agent run`: config -> watchers -> spool -> sender, plus heartbeats.

Watchers emit into an in-memory queue that one writer thread commits to the spool in batches (one fsync
for many events, so a burst of file changes costs little); the sender is woken at each commit. A watcher
that fails to start is reported and the others keep running.

Watchers get an `Outbox` (durable emit): `emit(event, receipt)` settles the receipt (base.Receipt, one
call per sink and batch) with ok=True once the event is on disk, or ok=False when the spool could not
take it (a full disk), so a watcher advances its own state only with what is durable and finds the rest
again when it rescans (`resync()` is called on every watcher once the spool takes writes again). While
the spool cannot be written, heartbeats (saying why) and one "spool unwritable" notice travel from
memory; other events wait in memory, bounded.
"""

from __future__ import annotations

import logging
import os
import platform
import queue
import threading
import time
from typing import Any

from govwatch import __version__
from govwatch.agents.base import Receipt, Watcher, load_watchers
from govwatch.agents.config import credentials_warning, read_credentials, watcher_sections
from govwatch.agents.sender import Sender
from govwatch.agents.spool import Spool, SpoolCorrupt, SpoolFull
from govwatch.events import Event
from govwatch.lifecycle import run_until_signalled

log = logging.getLogger("govwatch.agent")
HELD_MAX = 10_000  # events without a done callback kept in memory while the spool cannot be written
Done = Any  # base.Receipt, a Callable[[bool], None], or None


class Outbox:
    """The emit function watchers get: non-blocking, with an optional `done(ok)` once durable (or not)."""

    durable = True

    def __init__(self, put: Any) -> None:
        self._put = put

    def __call__(self, event: Event, done: Done = None) -> None:
        self._put((event, done))


class Agent:
    """One running agent; `start()` returns at once, `stop()` flushes the spool writer and joins threads."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        creds_path = cfg["collector"]["credentials"]
        self.credentials = read_credentials(creds_path)
        warning = credentials_warning(creds_path)
        if warning:
            log.warning(warning)
        os.makedirs(cfg["data_dir"], mode=0o700, exist_ok=True)
        self.spool = Spool(cfg["spool"], cfg["spool_max"])
        self._queue: queue.Queue[tuple[Event, Done] | None] = queue.Queue()
        self.outbox = Outbox(self._enqueue)
        self._held: list[Event] = []  # waiting for the spool to take writes again
        self.spool_error: str | None = None
        self.unwritten = 0  # events lost because the spool could not be written and memory was full
        self._write_failures = 0
        self._last_urgent = float("-inf")
        self._wake = threading.Event()
        collector = cfg["collector"]
        verify: bool | str = collector["ca_file"] or True
        self.sender = Sender(self.spool, collector.get("urls") or collector["url"], self.credentials["token"],
                             verify, collector["batch_size"], collector["timeout"], collector["max_backoff"],
                             self._wake, on_command=self.command, return_after=collector.get("return_after", 300.0))
        self.watchers: dict[str, Watcher] = {}
        self._observers: tuple[Any, ...] = ()   # watchers that see every event (logs learns FIM's new scripts)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.started = time.time()

    def emit(self, event: Event) -> None:
        """Thread-safe and non-blocking: the writer thread makes it durable within milliseconds."""
        self._enqueue((event, None))

    def _enqueue(self, item: tuple[Event, Done]) -> None:
        self._queue.put(item)
        for observe in self._observers:
            observe(item[0])

    def command(self, command: dict[str, Any]) -> None:
        """Run a collector command on every watcher that understands it (`watcher.command(kind, arg)`)."""
        log.info("collector asks: %s %s", command.get("kind"), command.get("arg"))
        for watcher in self.watchers.values():
            handler = getattr(watcher, "command", None)
            if handler is not None:
                handler(str(command.get("kind")), str(command.get("arg")))

    def start(self) -> None:
        if self.spool.recovered:
            self.emit(Event("agent", {"problem": "spool_corrupt", "detail": self.spool.recovered[:500]}, "critical",
                            f"{self.cfg['name']}: {self.spool.recovered}"[:500]))
        self._spawn("spool-writer", self._write_loop)
        self._spawn("sender", self.sender.run)
        registry = load_watchers()
        for name in watcher_sections(self.cfg):
            try:
                watcher = registry[name].factory(self.cfg[name], self.cfg)
                watcher.start(self.outbox)
            except Exception as exc:  # one broken watcher must not stop the others
                log.error("watcher %s failed to start: %s", name, exc, exc_info=log.isEnabledFor(logging.DEBUG))
                self.emit(Event("agent", {"problem": "watcher_failed", "watcher": name, "detail": str(exc)[:500]},
                                "high", f"{name} watcher failed to start on {self.cfg['name']}: {exc}"))
                continue
            self.watchers[name] = watcher
            if hasattr(watcher, "observe"):
                self._observers = (*self._observers, watcher.observe)
            log.info("watcher %s started", name)
        self._spawn("heartbeat", self._heartbeat_loop)

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _write_loop(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._retry_in() if self.spool_error else None)
            except queue.Empty:
                first = (self.heartbeat(), None)  # a probe that is useful if it gets through
            batch = [first]
            while len(batch) < 2000:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items = [item for item in batch if item is not None]
            if items or self._held:
                self._write(items)
            if None in batch:
                return

    def _retry_in(self) -> float:
        return min(5.0, 0.1 * 2 ** min(self._write_failures, 6))

    def _write(self, items: list[tuple[Event, Done]], again: bool = True) -> None:
        """Commit held and new events; report each one's fate to its watcher."""
        events = self._held + [event for event, _ in items]
        try:
            self.spool.put(events)
        except SpoolCorrupt as exc:
            log.critical("the spool %s is corrupt (%s): moving it aside", self.spool.path, exc)
            try:
                self.spool.recover(str(exc))
            except Exception as again_exc:  # cannot even start a new one: treat as unwritable
                self._unwritable(items, f"corrupt and not replaceable: {again_exc}")
                return
            notice = Event("agent", {"problem": "spool_corrupt", "detail": (self.spool.recovered or "")[:500]},
                           "critical", (self.spool.recovered or "spool replaced")[:500])
            self._held.append(notice)
            if again:
                self._write(items, again=False)
            else:
                self._unwritable(items, str(exc))
            return
        except SpoolFull as exc:
            self._unwritable(items, str(exc))
            return
        self._held = []
        _settle([done for _, done in items], True)
        self._wake.set()
        if self.spool_error is not None:
            self._recovered()

    def _unwritable(self, items: list[tuple[Event, Done]], error: str) -> None:
        """The spool cannot be written: watchers forget (and rescan later), others wait, heartbeats fly."""
        self._write_failures += 1
        first = self.spool_error is None
        self.spool_error = f"cannot write the spool {self.spool.path}: {error}"[:500]
        if first or self._write_failures % 100 == 0:
            log.error("%s (attempt %d; retrying)", self.spool_error, self._write_failures)
        if first:
            self.sender.urgent("spool", Event("agent", {"problem": "spool_unwritable", "detail": self.spool_error},
                                              "high", f"{self.cfg['name']}: {self.spool_error}"[:500]))
        held = [e for e in self._held if e.kind != "heartbeat"]
        _settle([done for _, done in items], False)
        held += [event for event, done in items if done is None and event.kind != "heartbeat"]
        if len(held) > HELD_MAX:
            self.unwritten += len(held) - HELD_MAX
            held = held[-HELD_MAX:]
        self._held = held
        if time.monotonic() - self._last_urgent >= min(self.cfg["heartbeat"], 30.0):
            self._last_urgent = time.monotonic()
            self.sender.urgent("heartbeat", self.heartbeat())

    def _recovered(self) -> None:
        log.warning("the spool %s takes writes again after %d failed attempts; rescanning", self.spool.path,
                    self._write_failures)
        self.spool_error, self._write_failures = None, 0
        for name, watcher in list(self.watchers.items()):
            resync = getattr(watcher, "resync", None)
            if resync is not None:
                try:
                    resync()
                except Exception as exc:
                    log.error("watcher %s could not resync: %s", name, exc)

    def heartbeat(self) -> Event:
        stats = {}
        for name, watcher in self.watchers.items():
            try:
                stats[name] = watcher.stats()
            except Exception as exc:  # stats are best effort
                stats[name] = {"error": str(exc)[:200]}
        data = {"version": __version__, "ministry": self.cfg["ministry"], "hostname": platform.node(),
                "config_file": self.cfg.get("config_file"),
                "watchers": sorted(self.watchers), "uptime": round(time.time() - self.started, 1),
                "spool_backlog": self.spool.backlog(), "spool_dropped": self.spool.dropped(),
                "spool_dead": self.spool.dead(), "sender_failures": self.sender.failures, "stats": stats,
                "spool_error": self.spool_error, "spool_unwritten": self.unwritten,
                "collector": self.sender.chooser.current, "collector_switches": self.sender.chooser.switches}
        return Event("heartbeat", data, "info", f"{self.cfg['name']} alive")

    def _heartbeat_loop(self) -> None:
        self.emit(self.heartbeat())
        while not self._stop.wait(self.cfg["heartbeat"]):
            self.emit(self.heartbeat())

    def stop(self) -> None:
        self._stop.set()
        for name, watcher in self.watchers.items():
            try:
                watcher.stop()
            except Exception as exc:
                log.error("watcher %s did not stop cleanly: %s", name, exc)
        self._queue.put(None)
        self.sender.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self.spool.close()


def _settle(dones: list[Done], ok: bool) -> None:
    """Tell watchers the fate of their events: one `settle` call per sink (one baseline transaction)."""
    groups: dict[int, tuple[Any, list[Any]]] = {}
    calls = []
    for done in dones:
        if isinstance(done, Receipt):
            groups.setdefault(id(done.sink), (done.sink, []))[1].append(done.key)
        elif done is not None:
            calls.append(lambda d=done: d(ok))
    calls += [lambda sink=sink, keys=keys: sink.settle(keys, ok) for sink, keys in groups.values()]
    for call in calls:
        try:
            call()
        except Exception:  # a watcher's bookkeeping must never stop the writer
            log.exception("event bookkeeping failed")


def run(cfg: dict[str, Any]) -> int:
    agent = Agent(cfg)

    def start() -> None:
        agent.start()
        log.info("govwatch agent %s %s running: watchers %s, spool %s, collector %s", cfg["name"], __version__,
                 ", ".join(agent.watchers) or "none", cfg["spool"],
                 " then ".join(cfg["collector"].get("urls") or [cfg["collector"]["url"]]))

    def stop() -> None:
        log.info("stopping")
        agent.stop()

    return run_until_signalled(start, stop)
