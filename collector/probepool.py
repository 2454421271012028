"""Probe concurrency that follows the work: worker threads that grow with queued probes and retire when idle.

A fixed pool of N workers probes at most N x interval / latency sites per interval (4 workers, 1 s sites:
about 240 a minute), so slow provincial sites fell behind. Here a probe that finds no idle worker starts
one, up to `limit` (limits.probe_concurrency, further capped by the open-file limit); a worker with
nothing to do for `idle` seconds exits. Concurrency therefore settles at what Little's law asks for
(probes per second x seconds per probe) and a hung site holds one thread, never the others' turn.

Threads rather than asyncio: the probe measures every phase with blocking sockets and reads refused
certificates, and at thousands of probes a minute the threads spend their time waiting, not in Python
(bench/probes.py gives the figures).
"""

from __future__ import annotations

import logging
import queue
import resource
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 128
SOCKETS_PER_PROBE = 2     # a TLS probe whose certificate is refused reconnects once to read it
_STOP = object()


def socket_budget(limit: int) -> int:
    """`limit`, lowered so probes never use more than half of the open-file limit (ingest needs the rest)."""
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return limit
    if soft == resource.RLIM_INFINITY:
        return limit
    allowed = max(1, soft // (2 * SOCKETS_PER_PROBE))
    if allowed < limit:
        log.warning("probe concurrency lowered from %d to %d: the open-file limit is %d", limit, allowed, soft)
    return min(limit, allowed)


class ElasticPool:
    """Run submitted jobs on up to `limit` threads, starting one only when no worker is idle."""

    def __init__(self, run: Callable[[Any], None], limit: int = DEFAULT_LIMIT, idle: float = 30.0,
                 name: str = "probe") -> None:
        self.run, self.limit, self.idle_seconds, self.name = run, max(1, limit), idle, name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._waiting = 0          # workers blocked waiting for a job
        self._queued = 0           # jobs submitted and not yet taken
        self._serial = 0
        self.peak = 0              # most workers alive at once (bench and logs)
        self._closed = False

    @property
    def workers(self) -> int:
        with self._lock:
            return len(self._threads)

    def submit(self, job: Any) -> None:
        with self._lock:
            if self._closed:
                return
            self._jobs.put(job)
            self._queued += 1
            if self._queued > self._waiting and len(self._threads) < self.limit:
                self._spawn()

    def _spawn(self) -> None:
        self._serial += 1
        thread = threading.Thread(target=self._work, name=f"{self.name}-{self._serial}", daemon=True)
        self._threads.add(thread)
        self.peak = max(self.peak, len(self._threads))
        thread.start()

    def _take(self) -> Any:
        """The next job, or None when this worker should retire (idle long enough and nothing queued)."""
        while True:
            with self._lock:
                self._waiting += 1
            try:
                job = self._jobs.get(timeout=self.idle_seconds)
            except queue.Empty:
                job = None
            with self._lock:
                self._waiting -= 1
                if job is not None:
                    if job is not _STOP:
                        self._queued -= 1
                    return job
                if self._queued == 0 or self._closed:
                    self._threads.discard(threading.current_thread())
                    return None

    def _work(self) -> None:
        while True:
            job = self._take()
            if job is None:
                return
            if job is _STOP:
                with self._lock:
                    self._threads.discard(threading.current_thread())
                return
            try:
                self.run(job)
            except Exception:  # one bad job must never stop the pool
                log.exception("%s job failed", self.name)

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker (jobs still queued are dropped) and wait up to `timeout` for them."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
            while True:    # drop queued jobs so workers see the stop marks at once
                try:
                    self._jobs.get_nowait()
                except queue.Empty:
                    break
            self._queued = 0
            for _ in threads:
                self._jobs.put(_STOP)
        end = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))
