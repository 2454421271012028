"""Which collector the sender talks to: the first (preferred) URL while it answers, the next on failure.

The sender sticks to one collector: switching on every hiccup would spread one agent's batches over two
collectors for no gain. It moves on only when the current one fails in a way that is the collector's
fault (unreachable, reset, timed out, 5xx, or refusing this agent's setup) and backs off only once every
URL failed in a row, so an agent with a dead first collector reaches the second at once, not after a
backoff. Once it has done well
on another collector for `return_after` seconds, the sender asks the preferred one whether it is ready
again (`GET /readyz`: answering and its store writable) and goes back when it is: operators put the
collector near the agents first, and the agents should not stay on the far one for ever after a reboot.

Nothing is lost or doubled by a switch: the spool deletes only acknowledged events, and a batch that one
collector stored but could not acknowledge is stored once by the shared store when sent again (event ids
are stable; ingest is idempotent on (agent, id)).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("govwatch.agent.sender")
DEFAULT_RETURN_AFTER = 300.0


class CollectorChooser:
    """The current collector URL among `urls` (in order of preference), with the switching rules above."""

    def __init__(self, urls: list[str], return_after: float = DEFAULT_RETURN_AFTER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not urls:
            raise ValueError("at least one collector URL is needed")
        self.urls = [url.rstrip("/") for url in urls]
        self.return_after, self.clock = return_after, clock
        self.index = 0
        self.switches = 0
        self._failed_in_row = 0  # consecutive failures, each on the next URL: a full round means back off
        self._good_since: float | None = None  # since when the current (non-preferred) URL has answered

    @property
    def current(self) -> str:
        return self.urls[self.index]

    @property
    def preferred(self) -> bool:
        return self.index == 0

    def succeeded(self) -> None:
        """The current collector acknowledged a request."""
        self._failed_in_row = 0
        if not self.preferred and self._good_since is None:
            self._good_since = self.clock()

    def failed(self, reason: str) -> bool:
        """The current collector failed (its fault, not the events'): move to the next URL.

        Returns True when every URL has failed since the last success, i.e. the caller should back off
        before the next attempt; False when there is another URL to try at once."""
        self._failed_in_row += 1
        if len(self.urls) > 1:
            self._switch((self.index + 1) % len(self.urls), f"{self.current} failed ({reason})")
        return self._failed_in_row >= len(self.urls)

    def due_for_preferred(self) -> bool:
        """True when the sender should probe the preferred collector now (after return_after elsewhere)."""
        return (not self.preferred and self._good_since is not None
                and self.clock() - self._good_since >= self.return_after)

    def preferred_answered(self, ready: bool, detail: str = "") -> None:
        """The result of probing the preferred collector: go back to it, or wait another return_after."""
        if ready:
            away = self.clock() - (self._good_since or self.clock())
            self._switch(0, f"the preferred collector is ready again (after {away:.0f} s on {self.current})")
        else:
            log.info("preferred collector %s not ready yet (%s); staying on %s", self.urls[0], detail or "no answer",
                     self.current)
            self._good_since = self.clock()

    def _switch(self, index: int, why: str) -> None:
        if index == self.index:
            return
        log.warning("collector switch: %s -> %s: %s", self.current, self.urls[index], why)
        self.index, self.switches = index, self.switches + 1
        self._good_since = None
