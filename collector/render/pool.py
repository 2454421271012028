"""The render pool: `concurrency` workers, each with its own browser, rendering sites on a schedule.

Every site is rendered every `interval` (spread over the first interval so 300 sites do not all start
at once) and at once when `nudge()`d (the static probe saw a change or a suspicion): nudged sites jump the
queue. A site is never rendered twice at the same time. Each worker owns one browser, so a browser that
crashes, hangs (no answer to a ping after a cut-off render) or grows past its share of the memory cap is
killed and restarted by its worker alone while the other workers go on rendering.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from govwatch.collector.render.browser import Browser, BrowserError
from govwatch.collector.render.page import Render, Renderer

log = logging.getLogger("govwatch.collector.render")

Site = dict[str, Any]
OnResult = Callable[[Site, Render, bool], None]


class RenderPool:
    """Schedules sites and runs renders; results go to `on_result(site, render, nudged)`."""

    def __init__(self, sites: list[Site], browser_path: str, on_result: OnResult, *, concurrency: int = 2,
                 interval: float = 600.0, budget: float = 20.0, memory_cap: int = 2**30,
                 make_browser: Callable[[str], Browser] = Browser, clock: Callable[[], float] = time.monotonic) -> None:
        self.sites = {s["name"]: s for s in sites}
        self.browser_path, self.on_result, self.interval, self.budget = browser_path, on_result, interval, budget
        self.concurrency = max(1, min(concurrency, len(sites) or 1))
        self.per_browser_cap = memory_cap // self.concurrency
        self.make_browser, self.clock = make_browser, clock
        self._due: list[tuple[float, int, str]] = []
        self._urgent: list[str] = []
        self._busy: set[str] = set()
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._browsers: list[Browser] = []
        self.restarts: dict[str, int] = {}
        self._threads = [threading.Thread(target=self._work, args=(i,), name=f"render-{i}", daemon=True)
                         for i in range(self.concurrency)]

    def start(self) -> None:
        now = self.clock()
        with self._cond:
            for name in self.sites:
                self._push(now + random.uniform(0, min(self.interval, 30.0)), name)
        for thread in self._threads:
            thread.start()
        self._watchdog = threading.Thread(target=self._watch_memory, name="render-memory", daemon=True)
        self._watchdog.start()

    def _watch_memory(self) -> None:
        """Kill a browser mid-render when it passes 1.5x its memory share (a huge DOM, a memory bomb)."""
        while not self._stop.wait(1.0):
            for browser in list(self._browsers):
                if browser.alive and browser.memory() > 1.5 * self.per_browser_cap:
                    log.warning("browser above 1.5x its memory share (%d MiB): killed", self.per_browser_cap >> 20)
                    browser.killed_for = "memory"
                    browser.kill_process()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop scheduling, abort renders in flight (their browsers are killed) and join every thread."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for browser in list(self._browsers):
            browser.killed_for = "stopping"
            browser.kill_process()
        end = time.monotonic() + timeout
        for thread in [*self._threads, getattr(self, "_watchdog", None)]:
            while thread is not None and thread.is_alive() and time.monotonic() < end:
                for browser in list(self._browsers):   # one that was (re)starting when we killed the others
                    browser.kill_process()
                thread.join(0.5)
        for browser in list(self._browsers):
            browser.kill()

    def nudge(self, name: str) -> bool:
        """Render `name` as soon as a worker is free (no-op if unknown, already queued or rendering)."""
        with self._cond:
            if name not in self.sites or name in self._urgent or name in self._busy:
                return False
            self._urgent.append(name)
            self._cond.notify()
            return True

    def _push(self, when: float, name: str) -> None:
        heapq.heappush(self._due, (when, next(self._seq), name))

    def _next(self) -> tuple[Site, bool] | None:
        """Block until a site is due (urgent first); None when stopping."""
        with self._cond:
            while not self._stop.is_set():
                if self._urgent:
                    name = self._urgent.pop(0)
                    self._busy.add(name)
                    return self.sites[name], True
                now = self.clock()
                if self._due and self._due[0][0] <= now:
                    _, _, name = heapq.heappop(self._due)
                    self._push(now + self.interval * random.uniform(0.95, 1.05), name)
                    if name in self._busy:
                        continue
                    self._busy.add(name)
                    return self.sites[name], False
                wait = (self._due[0][0] - now) if self._due else 1.0
                self._cond.wait(min(1.0, max(0.01, wait)))
        return None

    def _work(self, index: int) -> None:
        browser: Browser | None = None
        while True:
            job = self._next()
            if job is None:
                break
            site, nudged = job
            try:
                if self._stop.is_set():
                    break
                browser = self._ready(browser, index)
                render = Renderer(browser, self.budget).render(site["url"]) if browser else _unavailable(site)
                if self._stop.is_set():
                    break   # aborted by stop(): not a real failure of the site
                browser = self._after(browser, render)
                self.on_result(site, render, nudged)
            except Exception:  # one site's trouble must never stop the pool
                log.exception("render of %s failed", site["name"])
            finally:
                with self._cond:
                    self._busy.discard(site["name"])
        if browser is not None:
            browser.kill()

    def _ready(self, browser: Browser | None, index: int) -> Browser | None:
        if browser is not None and browser.alive:
            return browser
        if browser is None:
            browser = self.make_browser(self.browser_path)
            self._browsers.append(browser)
        try:
            browser.start()
        except BrowserError as exc:
            log.error("render worker %d: %s", index, exc)
            return None
        return browser

    def _after(self, browser: Browser | None, render: Render) -> Browser | None:
        """Restart a browser that crashed, hangs after a cut-off, or holds more than its memory share."""
        if browser is None:
            return None
        why = None
        if render.reason == "crash" or not browser.alive:
            why = "crash"
        elif render.reason in ("timeout", "browser") and not browser.ping():
            why = "hung"
        elif browser.memory() > self.per_browser_cap:
            why = "memory"
        if why:
            log.warning("restarting browser (%s) after rendering %s", why, render.url)
            self.restarts[why] = self.restarts.get(why, 0) + 1
            browser.kill()
        return browser


def _unavailable(site: Site) -> Render:
    return Render(url=site["url"], started=time.time(), reason="browser", error="the browser could not be started")
