"""Ships spooled events to the collector: gzip batches, retries with capped exponential backoff and full
jitter, and deletes only what the collector acknowledged. A batch the collector refuses as malformed is
split until the bad event is isolated, which is then kept in a dead-letter table (never retried forever,
never silently deleted). Any answer that judges the content (400, 409, 413, 415, 422: e.g. an event
whose clock is far off, if a collector refuses it) takes that path too; every other answer ("not now":
408, 429, 5xx; or a setup problem the operator must fix: 401, 403, 404) is retried and the events kept.

Some events must travel even when the spool cannot be written (a full disk): the runner hands those
(the latest heartbeat, the "spool unwritable" notice) to `urgent`, and they are posted from memory first.
Every request carries an HTTP `Date`, and the collector's `Date` tells the agent when its clock is off.

With several collector URLs (agent.yml `collector.url` as a list) the failover rules are failover.py's:
a failure that is the collector's (unreachable, timeout, 408, 5xx, or 401/403/404 from a collector set
up differently) moves to the next URL at once, and the sender backs off only when all of them failed in
a row; a content refusal or 429 never switches."""

from __future__ import annotations

import gzip
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

import requests

from govwatch import __version__
from govwatch.agents.failover import DEFAULT_RETURN_AFTER, CollectorChooser
from govwatch.agents.paths import safe_json
from govwatch.agents.spool import Spool
from govwatch.errors import network_reason
from govwatch.events import Event

log = logging.getLogger("govwatch.agent.sender")
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}
CONTENT = {400, 409, 413, 415, 422}  # the collector judged the events themselves: isolate, dead-letter
# Not the events' fault: the collector's own trouble (408, 5xx) or its setup (401/403/404: wrong URL, a
# collector that does not share the agent table): try the next collector URL. 429 is honoured, not dodged.
SWITCH = {401, 403, 404, 408, 500, 502, 503, 504}
SKEW_WARNING = 300.0  # seconds between the agent's clock and the collector's before it is logged


class Sender:
    """One thread that drains the spool into POST /api/v1/events."""

    def __init__(self, spool: Spool, url: str | list[str], token: str, verify: bool | str, batch_size: int = 500,
                 timeout: float = 15.0, max_backoff: float = 10.0, wake: threading.Event | None = None,
                 session: Any = None, sleep: Callable[[float], bool] | None = None,
                 on_command: Callable[[dict[str, Any]], None] | None = None,
                 return_after: float = DEFAULT_RETURN_AFTER) -> None:
        self.spool = spool
        self.chooser = CollectorChooser([url] if isinstance(url, str) else list(url), return_after)
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
        self.clock_skew: float | None = None  # collector time minus agent time, from its Date header
        self._urgent: dict[str, bytes] = {}
        self._urgent_lock = threading.Lock()
        self._retry_now = False  # the last failure moved to another collector URL: no backoff before it

    @property
    def url(self) -> str:
        """The events endpoint of the collector in use now."""
        return self.chooser.current + "/api/v1/events"

    def urgent(self, key: str, event: Event) -> None:
        """Post this event from memory, before the spool, replacing an unsent one under the same key."""
        body = json.dumps(safe_json(event.to_dict()), ensure_ascii=False, separators=(",", ":")).encode()
        with self._urgent_lock:
            self._urgent[key] = body
        self.wake.set()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                moved = self._step()
            except Exception as exc:  # the spool unreadable for a moment (disk, corruption): keep going
                moved = self._failed(f"spool: {exc}")
            if moved is None:
                self.wake.wait(1.0)
                self.wake.clear()
            elif not moved and not self._retry_now:
                self._backoff()

    def _step(self) -> bool | None:
        """One batch: urgent events first, then the spool; None when there was nothing to send."""
        with self._urgent_lock:
            urgent = dict(self._urgent)
        if urgent:
            ok = self._post(list(urgent.values())) == 200
            if ok:
                with self._urgent_lock:
                    for key, body in urgent.items():
                        if self._urgent.get(key) is body:
                            del self._urgent[key]
            if not ok:
                return False
        rows = self.spool.peek(self._limit)
        if not rows:
            return True if urgent else None
        return self.send(rows)

    def _post(self, bodies: list[bytes]) -> int:
        """POST urgent bodies; the HTTP status (0 if unreachable). A refused urgent event is dropped."""
        body = gzip.compress(b'{"events":[' + b",".join(bodies) + b"]}", compresslevel=5)
        try:
            response = self._request(body)
        except requests.RequestException as exc:
            self._failed(f"collector {self.chooser.current} unreachable: {network_reason(exc)}", switch=True)
            return 0
        if response.status_code == 200 or response.status_code in CONTENT:
            self.chooser.succeeded()
            if response.status_code != 200:
                log.error("collector refused urgent events (%d %s)", response.status_code, _reason(response))
            return 200
        self._failed(f"collector {self.chooser.current} answered {response.status_code}: {_reason(response)}",
                     switch=response.status_code in SWITCH)
        return response.status_code

    def _request(self, body: bytes) -> Any:
        if self.chooser.due_for_preferred():
            self._probe_preferred()
        self._retry_now = False
        self.session.headers["Date"] = formatdate(usegmt=True)
        response = self.session.post(self.url, data=body, timeout=self.timeout, verify=self.verify)
        self._skew(response)
        return response

    def _probe_preferred(self) -> None:
        """Ask the preferred collector whether it is back (answering, store writable) before returning to it."""
        url = self.chooser.urls[0] + "/readyz"
        try:
            answer = self.session.get(url, timeout=min(5.0, self.timeout), verify=self.verify)
        except requests.RequestException as exc:
            return self.chooser.preferred_answered(False, network_reason(exc))
        self.chooser.preferred_answered(answer.status_code == 200, f"/readyz answered {answer.status_code}")

    def _skew(self, response: Any) -> None:
        """Note how far the collector's clock is from ours; log it (once per episode) when large."""
        header = (getattr(response, "headers", None) or {}).get("Date")
        if not header:
            return
        try:
            skew = parsedate_to_datetime(header).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return
        if abs(skew) >= SKEW_WARNING and (self.clock_skew is None or abs(self.clock_skew) < SKEW_WARNING):
            log.warning("this host's clock is %+.0f s off the collector's: fix NTP (events carry both times)", skew)
        self.clock_skew = skew

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()

    def send(self, rows: list[tuple[int, bytes]]) -> bool:
        """POST one batch; True if the spool moved forward (acknowledged or isolated a bad event)."""
        body = gzip.compress(b'{"events":[' + b",".join(body for _, body in rows) + b"]}", compresslevel=5)
        try:
            response = self._request(body)
        except requests.RequestException as exc:
            return self._failed(f"collector {self.chooser.current} unreachable: {network_reason(exc)}", switch=True)
        if response.status_code == 200:
            self.chooser.succeeded()
            self.spool.ack([seq for seq, _ in rows])
            self.sent += len(rows)
            self.failures, self.last_ok, self.last_error = 0, time.time(), ""
            self._limit = self.batch_size
            self._commands(response)
            return True
        reason = _reason(response)
        if response.status_code in CONTENT:
            self.chooser.succeeded()
            return self._refused(rows, response.status_code, reason)
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After", "1")
            self.sleep(min(self.max_backoff, float(retry_after) if retry_after.isdigit() else 1.0))
        return self._failed(f"collector {self.chooser.current} answered {response.status_code}: {reason}",
                            switch=response.status_code in SWITCH)

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

    def _failed(self, message: str, switch: bool = False) -> bool:
        """Count a failed attempt; with `switch`, the collector is at fault: move on to the next URL."""
        self.failures += 1
        if switch:
            self._retry_now = not self.chooser.failed(message.replace(f"collector {self.chooser.current} ", "", 1))
            if self._retry_now:  # the switch line said it all; the next URL is tried at once
                self.last_error = message
                return False
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

