"""Ships spooled events to the collector: gzip batches, retries with capped exponential backoff and full
jitter, and deletes only what the collector acknowledged. A batch the collector refuses as malformed is
split until the bad event is isolated, which is then kept in a dead-letter table (never retried forever,
never silently deleted)."""

from __future__ import annotations

import gzip
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from govwatch import __version__
from govwatch.agents.spool import Spool
from govwatch.errors import network_reason

log = logging.getLogger("govwatch.agent.sender")
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


class Sender:
    """One thread that drains the spool into POST /api/v1/events."""

    def __init__(self, spool: Spool, url: str, token: str, verify: bool | str, batch_size: int = 500,
                 timeout: float = 15.0, max_backoff: float = 10.0, wake: threading.Event | None = None,
                 session: Any = None, sleep: Callable[[float], bool] | None = None,
                 on_command: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.spool, self.url = spool, url.rstrip("/") + "/api/v1/events"
        self.batch_size, self.timeout, self.max_backoff, self.verify = batch_size, timeout, max_backoff, verify
        self.wake = wake or threading.Event()
        self._stop = threading.Event()
        self.sleep = sleep or self._stop.wait
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                     "Content-Encoding": "gzip", "User-Agent": f"govwatch-agent/{__version__}"})
        self.failures = 0
        self.sent = 0
        self.last_ok: float | None = None
        self.last_error = ""
        self._limit = batch_size
        self.on_command = on_command

    def run(self) -> None:
        while not self._stop.is_set():
            rows = self.spool.peek(self._limit)
            if not rows:
                self.wake.wait(1.0)
                self.wake.clear()
                continue
            if not self.send(rows):
                self._backoff()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()

    def send(self, rows: list[tuple[int, bytes]]) -> bool:
        """POST one batch; True if the spool moved forward (acknowledged or isolated a bad event)."""
        body = gzip.compress(b'{"events":[' + b",".join(body for _, body in rows) + b"]}", compresslevel=5)
        try:
            response = self.session.post(self.url, data=body, timeout=self.timeout, verify=self.verify)
        except requests.RequestException as exc:
            return self._failed(f"collector unreachable: {network_reason(exc)}")
        if response.status_code == 200:
            self.spool.ack([seq for seq, _ in rows])
            self.sent += len(rows)
            self.failures, self.last_ok, self.last_error = 0, time.time(), ""
            self._limit = self.batch_size
            self._commands(response)
            return True
        reason = _reason(response)
        if response.status_code in (400, 413):
            return self._refused(rows, response.status_code, reason)
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After", "1")
            self.sleep(min(self.max_backoff, float(retry_after) if retry_after.isdigit() else 1.0))
        return self._failed(f"collector answered {response.status_code}: {reason}")

    def _commands(self, response: Any) -> None:
        """Hand on commands the collector piggybacked on its answer (e.g. rebaseline a site)."""
        if self.on_command is None:
            return
        try:
            commands = response.json().get("commands") or []
        except (ValueError, AttributeError):
            return
        for command in commands:
            try:
                self.on_command(command)
            except Exception:  # a command must never stop the sender
                log.exception("command %s failed", command)

    def _refused(self, rows: list[tuple[int, bytes]], status: int, reason: str) -> bool:
        if len(rows) > 1:
            self._limit = max(1, len(rows) // 2)
            log.warning("collector refused a batch of %d (%s); retrying in halves to isolate it", len(rows), reason)
            return True
        log.error("collector refused event %d for good (%d %s); kept in the spool's dead-letter table",
                  rows[0][0], status, reason)
        self.spool.bury(rows[0][0], f"{status} {reason}")
        self._limit = self.batch_size
        return True

    def _failed(self, message: str) -> bool:
        self.failures += 1
        if message != self.last_error or self.failures in (1, 10) or self.failures % 100 == 0:
            log.warning("%s (attempt %d; %d events waiting)", message, self.failures, self.spool.backlog())
        self.last_error = message
        return False

    def _backoff(self) -> None:
        ceiling = min(self.max_backoff, 0.25 * 2 ** min(self.failures, 16))
        self.sleep(random.uniform(ceiling / 4, ceiling))


def _reason(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", ""))[:200]
    except ValueError:
        return response.text[:200].strip()

