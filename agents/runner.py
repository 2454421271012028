"""`govwatch agent run`: config -> watchers -> spool -> sender, plus heartbeats.

Watchers emit into an in-memory queue that one writer thread commits to the spool in batches (one fsync
for many events, so a burst of file changes costs little); the sender is woken at each commit. A watcher
that fails to start is reported and the others keep running.
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
from govwatch.agents.base import Watcher, load_watchers
from govwatch.agents.config import credentials_warning, read_credentials, watcher_sections
from govwatch.agents.sender import Sender
from govwatch.agents.spool import Spool
from govwatch.events import Event
from govwatch.lifecycle import run_until_signalled

log = logging.getLogger("govwatch.agent")


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
        self._queue: queue.Queue[Event | None] = queue.Queue()
        self._wake = threading.Event()
        collector = cfg["collector"]
        verify: bool | str = collector["ca_file"] or True
        self.sender = Sender(self.spool, collector["url"], self.credentials["token"], verify,
                             collector["batch_size"], collector["timeout"], collector["max_backoff"], self._wake,
                             on_command=self.command)
        self.watchers: dict[str, Watcher] = {}
        self._observers: tuple[Any, ...] = ()   # watchers that see every event (logs learns FIM's new scripts)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.started = time.time()

    def emit(self, event: Event) -> None:
        """Thread-safe and non-blocking: the writer thread makes it durable within milliseconds."""
        self._queue.put(event)
        for observe in self._observers:
            observe(event)

    def command(self, command: dict[str, Any]) -> None:
        """Run a collector command on every watcher that understands it (`watcher.command(kind, arg)`)."""
        log.info("collector asks: %s %s", command.get("kind"), command.get("arg"))
        for watcher in self.watchers.values():
            handler = getattr(watcher, "command", None)
            if handler is not None:
                handler(str(command.get("kind")), str(command.get("arg")))

    def start(self) -> None:
        self._spawn("spool-writer", self._write_loop)
        self._spawn("sender", self.sender.run)
        registry = load_watchers()
        for name in watcher_sections(self.cfg):
            try:
                watcher = registry[name].factory(self.cfg[name], self.cfg)
                watcher.start(self.emit)
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
            first = self._queue.get()
            batch = [first]
            while len(batch) < 2000:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            events = [e for e in batch if e is not None]
            if events:
                self._write(events)
            if None in batch:
                return

    def _write(self, events: list[Event]) -> None:
        for attempt in range(1, 1_000_000):
            try:
                self.spool.put(events)
                self._wake.set()
                return
            except Exception as exc:  # disk full or locked: keep the events in memory and retry
                if attempt in (1, 10) or attempt % 100 == 0:
                    log.error("cannot write %d events to the spool %s: %s (retrying)", len(events), self.spool.path,
                              exc)
                time.sleep(min(5.0, 0.1 * attempt))

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
                "spool_dead": self.spool.dead(), "sender_failures": self.sender.failures, "stats": stats}
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


def run(cfg: dict[str, Any]) -> int:
    agent = Agent(cfg)

    def start() -> None:
        agent.start()
        log.info("govwatch agent %s %s running: watchers %s, spool %s, collector %s", cfg["name"], __version__,
                 ", ".join(agent.watchers) or "none", cfg["spool"], cfg["collector"]["url"])

    def stop() -> None:
        log.info("stopping")
        agent.stop()

    return run_until_signalled(start, stop)
