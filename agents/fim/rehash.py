"""The rolling re-hash: every file read again within `full_rehash_period`, whatever stat says.

The queue comes from SQL (the least recently hashed files first, a few thousand at a time), so the
watcher never holds a copy of the baseline to decide what to read next.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from govwatch.agents.fim.baseline import Baseline

if TYPE_CHECKING:
    from govwatch.agents.fim.watcher import FimWatcher


class RollingRehash:
    """Re-hashes the least recently hashed files so each is read once per period, within a byte budget.

    The byte rate is what the period needs (all bytes / period, plus a quarter of headroom), never more
    than `rehash_rate`; unused credit is banked for at most a minute so a big file is not skipped forever.
    """

    QUEUE = 4096  # paths taken from the baseline per fill, least recently hashed first

    def __init__(self, watcher: FimWatcher) -> None:
        self.watcher = watcher
        self.queue: list[str] = []
        self.last = time.monotonic()
        self.next_fill = 0.0
        self.credit = 0.0
        self.total_bytes = 0

    def step(self) -> None:
        engine, cfg = self.watcher.engine, self.watcher.cfg
        assert engine is not None
        now = time.monotonic()
        elapsed, self.last = now - self.last, now
        period = cfg["full_rehash_period"]
        files = engine.baseline.files
        fresh = self.watcher.clock() - period / 2
        if not self.queue and now >= self.next_fill:
            self._fill(engine.baseline, fresh, now)
        rate = min(cfg["rehash_rate"], max(self.total_bytes / period * 1.25, 65536.0))
        self.credit = min(self.credit + rate * elapsed, rate * 60)
        while self.queue and self.credit > 0 and not self.watcher.stop_event.is_set():
            state = files.get(path := self.queue.pop())
            if state is None or state.type != "file" or state.hashed_at > fresh:
                continue  # gone, or hashed meanwhile by a change
            self.credit -= max(state.size, 4096)
            engine.reconcile(path, force_hash=True)

    def _fill(self, baseline: Baseline, fresh: float, now: float) -> None:
        """The next least recently hashed files, from SQL (no copy of the baseline in memory)."""
        self.total_bytes = baseline.scalar("SELECT coalesce(sum(size), 0) FROM files WHERE type = 'file'")
        oldest = [p for p, _state in baseline.states("WHERE type = 'file' AND hashed_at <= ?", (int(fresh),),
                                                     order="hashed_at", limit=self.QUEUE)]
        self.queue = oldest[::-1]  # pop() takes the oldest
        self.next_fill = now if len(oldest) == self.QUEUE else now + 60
