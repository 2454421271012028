"""Progress of long work: a tqdm bar on a terminal, an INFO log line every few seconds otherwise.

Long jobs (a first FIM baseline of 50,000 files, report generation, store migrations) run for many
seconds; silence reads as a hang. The work itself is never slowed for this: a watcher thread samples a
counter the job already keeps (`count()`), so the hot loop makes no call per item.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

log = logging.getLogger("govwatch.progress")

LOG_EVERY = 5.0  # seconds between log lines when stderr is not a terminal
TICK = 0.25  # seconds between bar refreshes on a terminal


class Progress:
    """`with Progress("fim: hashing", count=lambda: hasher.done, total=n, unit="files"):` ...

    Without `count` (work with no natural counter, e.g. WeasyPrint laying out a PDF) it shows elapsed time."""

    def __init__(self, what: str, count: Callable[[], int] | None = None, total: int | None = None, unit: str = "items",
                 stream: Any = None, interactive: bool | None = None, log_every: float = LOG_EVERY) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.count = count or (lambda: 0)  # without a counter: elapsed time only ("still working")
        self.counted = count is not None
        self.stream = stream or sys.stderr
        self.interactive = _is_tty(self.stream) if interactive is None else interactive
        self.log_every = log_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None
        self.started = 0.0

    def __enter__(self) -> Progress:
        self.started = time.monotonic()
        if self.interactive:
            from tqdm import tqdm

            shape = {} if self.counted else {"bar_format": "{desc}: working, {elapsed}"}
            self._bar = tqdm(total=self.total, desc=self.what, unit=f" {self.unit}", file=self.stream,
                             leave=True, dynamic_ncols=True, mininterval=TICK, **shape)
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._bar is not None:
            self._update_bar()
            self._bar.close()

    def _loop(self) -> None:
        wait = TICK if self.interactive else self.log_every
        while not self._stop.wait(wait):
            if self._bar is not None:
                self._update_bar()
            else:
                log.info("%s", self.line())

    def _update_bar(self) -> None:
        done = self.count()
        self._bar.update(max(0, done - self._bar.n))

    def line(self) -> str:
        """One log line: `fim: hashing 12000/50000 files (24%), 6s`."""
        done, elapsed = self.count(), time.monotonic() - self.started
        if self.total:
            return f"{self.what} {done}/{self.total} {self.unit} ({100 * done // self.total}%), {elapsed:.0f}s"
        if not self.counted:
            return f"{self.what}: still working, {elapsed:.0f}s"
        return f"{self.what} {done} {self.unit}, {elapsed:.0f}s"


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
