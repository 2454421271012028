"""Judge pages where a runaway can be stopped: worker processes with a hard deadline.

The parser is linear (Lexbor in C, nesting flattened) and the sensors are bounded, but a page is
hostile input and the rules are regexes anyone may add: one catastrophic pattern on one crafted page
holds Python's interpreter lock, and no timer thread in the same process can stop it. So the agent's
watcher and the collector's prober judge in a small pool of worker processes; a judgment that is not
back within `budget` seconds gets its worker killed (SIGKILL) and is reported as a suspicious verdict
with the reason, and the next judgment starts a fresh worker. The caller's thread is blocked at most
`budget` seconds, and other sites keep their own workers.

`Inline` is the same interface in-process (tests, benchmarks, and callers that accept the risk).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from govwatch.agents.defacement.detector import Verdict, default_rules, judge
from govwatch.agents.defacement.html import Page, parse
from govwatch.agents.defacement.profile import Profile, learn

log = logging.getLogger("govwatch.defacement.bounded")
BUDGET = 5.0            # seconds a worker may spend on one page (parse + every sensor)
START_TIMEOUT = 60.0    # a fresh worker imports the detector first (slow on a loaded 2-core machine)
_CONTEXT = multiprocessing.get_context("spawn")   # fork in a threaded process can inherit held locks


class Inline:
    """Judge in this process (no deadline beyond the detector's own per-sensor budget)."""

    def __init__(self, rules_dir: str | None = None, rules: list | None = None) -> None:
        self.rules_dir, self.rules = rules_dir, rules

    def _rules(self) -> list:
        return self.rules if self.rules is not None else default_rules(self.rules_dir)

    def judge(self, profile: Profile | None, html: str, url: str | None = None,
              stylesheets: list[str] | None = None) -> tuple[Verdict, Page | None]:
        page = parse(html, stylesheets)
        return judge(profile, html, url, rules=self._rules(), page=page), page

    def learn(self, snapshots: list[str], url: str | None = None,
              stylesheets: list[str] | None = None) -> Profile | None:
        return learn(snapshots, url, rules=self._rules(), stylesheets=stylesheets)

    def close(self) -> None:
        """Nothing to stop."""


def over_budget(budget: float, error: str | None = None) -> Verdict:
    """The verdict for a page whose judgment was stopped (or failed): suspicious, with the reason."""
    reason = (f"judging this page did not finish within the {budget:g} s budget and was stopped: a page built "
              f"to stall the detector, or a runaway rule; look at it") if error is None else (
              f"this page could not be judged ({error}); look at it")
    return Verdict(defaced=True, score=0.5, severity="medium", reasons=[reason], new_domains=[], text_diff="",
                   title="", findings=[{"sensor": "budget", "weight": 0.5, "severity": "medium", "reason": reason,
                                        "domains": ()}], rule_ids=[])


def _serve(conn: Connection, rules_dir: str | None) -> None:
    """Worker process main loop: judge or learn what the parent sends, until the pipe closes."""
    engine = Inline(rules_dir)
    engine.judge(None, "<title>warm</title><p>up</p>")   # imports and rules loaded before the first deadline
    conn.send(("ready", None))
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result = engine.judge(*args) if op == "judge" else engine.learn(*args)
            conn.send(("ok", result))
        except Exception as exc:  # a page must never kill the worker: report it like a stopped judgment
            conn.send(("error", f"{type(exc).__name__}: {str(exc)[:200]}"))


class _Worker:
    def __init__(self, rules_dir: str | None) -> None:
        self.conn, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_serve, args=(child, rules_dir), name="govwatch-deface-judge",
                                        daemon=True)
        self.process.start()
        child.close()
        if not self.conn.poll(START_TIMEOUT):
            self.kill()
            raise RuntimeError("defacement judge worker did not start")
        self.conn.recv()

    def call(self, op: str, args: tuple, budget: float) -> tuple[str, Any]:
        self.conn.send((op, args))
        if not self.conn.poll(budget):
            self.kill()
            return "timeout", None
        return self.conn.recv()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)
        self.conn.close()


class Pool:
    """Up to `size` worker processes shared by threads; each call has a hard deadline of `budget` s."""

    def __init__(self, size: int = 2, budget: float | None = None, rules_dir: str | None = None) -> None:
        self.size, self.rules_dir = max(1, size), rules_dir
        self.budget = BUDGET if budget is None else budget
        self._idle: list[_Worker] = []
        self._count = 0
        self._ready = threading.Condition()
        self.stopped = 0   # judgments stopped at the deadline (for stats and tests)

    def _take(self) -> _Worker | None:
        with self._ready:
            while not self._idle and self._count >= self.size:
                self._ready.wait()
            if self._idle:
                return self._idle.pop()
            self._count += 1
        return None

    def _give(self, worker: _Worker | None) -> None:
        with self._ready:
            if worker is None:
                self._count -= 1
            else:
                self._idle.append(worker)
            self._ready.notify()

    def _call(self, op: str, args: tuple) -> tuple[str, Any]:
        worker = self._take()
        try:
            if worker is None:
                worker = _Worker(self.rules_dir)
            status, result = worker.call(op, args, self.budget)
        except (OSError, EOFError, RuntimeError) as exc:
            if worker is not None:
                worker.kill()
            self._give(None)
            return "error", f"{type(exc).__name__}: {exc}"
        if status == "timeout":
            self.stopped += 1
            self._give(None)
        else:
            self._give(worker)
        return status, result

    def judge(self, profile: Profile | None, html: str, url: str | None = None,
              stylesheets: list[str] | None = None) -> tuple[Verdict, Page | None]:
        started = time.monotonic()
        status, result = self._call("judge", (profile, html, url, stylesheets))
        if status == "ok":
            return result
        log.warning("defacement judgment of %s stopped after %.1f s (%s)", url, time.monotonic() - started,
                    result or "over budget")
        return over_budget(self.budget, result if status == "error" else None), None

    def learn(self, snapshots: list[str], url: str | None = None,
              stylesheets: list[str] | None = None) -> Profile | None:
        """A profile learned in a worker; None when learning did not finish in time (try again later)."""
        status, result = self._call("learn", (snapshots, url, stylesheets))
        return result if status == "ok" else None

    def close(self) -> None:
        with self._ready:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for worker in idle:
            worker.conn.close()
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.kill()
