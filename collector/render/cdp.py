"""A thin Chrome DevTools Protocol client over one websocket (websocket-client).

One reader thread per connection turns replies into answers for the waiting caller and hands events
to the handler registered for their session. Every call has a deadline, so a hung renderer can never
hang the caller: the call raises `CDPTimeout` and the pool decides what to do with the browser.
Handlers run on the reader thread; they may `send_nowait` (a dialog must be dismissed while the page
waits) but never wait for an answer there.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import websocket

log = logging.getLogger("govwatch.collector.render")

Handler = Callable[[str, dict[str, Any]], None]


class CDPError(Exception):
    """The browser refused a command (its error message), or the connection is gone."""


class CDPTimeout(CDPError):
    """No answer within the deadline: the page's main thread or the browser is stuck."""


class _Waiter:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None


class Connection:
    """A DevTools websocket: `call()` waits for the answer; events go to per-session handlers."""

    def __init__(self, ws_url: str, timeout: float = 10.0) -> None:
        try:
            self._ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True,
                                                   enable_multithread=True)
        except (OSError, websocket.WebSocketException) as exc:
            raise CDPError(f"cannot connect to the browser's DevTools socket: {exc}") from None
        self._ws.settimeout(None)
        self._ids = itertools.count(1)
        self._waiters: dict[int, _Waiter] = {}
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self.closed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()

    def on(self, session: str, handler: Handler | None) -> None:
        """Route the events of `session` ('' = browser-level) to `handler` (None: stop)."""
        with self._lock:
            if handler is None:
                self._handlers.pop(session, None)
            else:
                self._handlers[session] = handler

    def send_nowait(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> None:
        """Send without waiting (safe from an event handler)."""
        self._send(next(self._ids), method, params, session)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "",
             timeout: float = 10.0) -> dict[str, Any]:
        """Send one command and wait at most `timeout` seconds for its result."""
        ident, waiter = next(self._ids), _Waiter()
        with self._lock:
            self._waiters[ident] = waiter
        try:
            self._send(ident, method, params, session)
            if not waiter.done.wait(max(0.01, timeout)):
                raise CDPTimeout(f"{method}: no answer within {timeout:.1f}s")
        finally:
            with self._lock:
                self._waiters.pop(ident, None)
        reply = waiter.reply or {}
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message', reply['error'])}")
        if reply.get("closed"):
            raise CDPError(f"{method}: the browser connection closed")
        return reply.get("result", {})

    def _send(self, ident: int, method: str, params: dict[str, Any] | None, session: str) -> None:
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        if self.closed.is_set():
            raise CDPError(f"{method}: the browser connection closed")
        try:
            self._ws.send(json.dumps(message))
        except (OSError, websocket.WebSocketException) as exc:
            raise CDPError(f"{method}: cannot send: {exc}") from None

    def _read(self) -> None:
        try:
            while True:
                raw = self._ws.recv()
                if not raw:
                    break
                self._dispatch(json.loads(raw))
        except (OSError, ValueError, websocket.WebSocketException):
            pass
        finally:
            self.closed.set()
            with self._lock:
                waiters = list(self._waiters.values())
            for waiter in waiters:
                waiter.reply = {"closed": True}
                waiter.done.set()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            with self._lock:
                waiter = self._waiters.get(message["id"])
            if waiter is not None:
                waiter.reply = message
                waiter.done.set()
            return
        with self._lock:
            handler = self._handlers.get(message.get("sessionId", ""))
        if handler is not None:
            try:
                handler(message.get("method", ""), message.get("params", {}))
            except Exception:  # a handler bug must not kill the connection for every render
                log.exception("CDP event handler failed on %s", message.get("method"))

    def close(self) -> None:
        try:
            self._ws.close(timeout=1)
        except (OSError, websocket.WebSocketException):
            pass
        self._reader.join(timeout=5)
