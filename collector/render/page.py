"""One render of one URL in a running browser: the DOM, the final URL, the run-time domains, a screenshot.

Each render gets a fresh browser context (its own cookies, storage and cache, thrown away after), downloads
denied, JS dialogs dismissed, file: requests failed, one time budget for everything. When the budget runs out
(an endless script, a huge DOM) the page's JavaScript is terminated and the render reported as cut off; a
browser that does not even answer then is the pool's to restart.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from govwatch.collector.render.browser import Browser
from govwatch.collector.render.cdp import CDPError, CDPTimeout, Connection

SEARCH_REFERER = "https://www.google.com/search?q=site"
VIEWPORT = (1280, 900)
MAX_DOM = 4 * 2**20
SETTLE_QUIET = 0.5      # network quiet this long after load = the page has settled
SETTLE_MAX = 3.0        # ...but never wait longer than this after load
ACTIVE_TYPES = ("Script", "XHR", "Fetch", "WebSocket", "EventSource", "Ping", "Other", "Manifest", "Document")
PASSIVE_TYPES = ("Image", "Font", "Stylesheet", "Media")
_DOM_JS = ("(() => { const e = document.documentElement; const h = e ? e.outerHTML : '';"
           f" return {{href: location.href, size: h.length, html: h.slice(0, {MAX_DOM})}}; }})()")


@dataclass
class Render:
    """What the browser showed. `reason` is set when it failed (timeout, crash, navigation, refused, http)."""

    url: str
    started: float
    final_url: str | None = None
    referrer_final_url: str | None = None
    status: int | None = None
    dom: str = ""
    dom_size: int = 0
    domains: dict[str, str] = field(default_factory=dict)   # host -> first resource type seen
    requests: int = 0
    screenshot: bytes | None = None
    duration: float = 0.0
    dialogs: int = 0
    refused: int = 0
    reason: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


class _Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def left(self, cap: float | None = None) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise CDPTimeout(f"render budget of {self.seconds:g}s used up")
        return min(remaining, cap) if cap is not None else remaining


class _Tab:
    """Event bookkeeping for one page session (runs on the CDP reader thread)."""

    def __init__(self, conn: Connection, session: str, render: Render) -> None:
        self.conn, self.session, self.render = conn, session, render
        self.loaded = threading.Event()
        self.inflight: set[str] = set()
        self.last_activity = time.monotonic()
        self.main_frame: str | None = None

    def __call__(self, method: str, params: dict[str, Any]) -> None:
        if method == "Page.loadEventFired":
            self.loaded.set()
        elif method == "Page.javascriptDialogOpening":
            self.render.dialogs += 1
            self.conn.send_nowait("Page.handleJavaScriptDialog", {"accept": False}, self.session)
        elif method == "Fetch.requestPaused":
            self.render.refused += 1
            self.conn.send_nowait("Fetch.failRequest", {"requestId": params["requestId"],
                                                        "errorReason": "AccessDenied"}, self.session)
        elif method == "Network.requestWillBeSent":
            self._request(params)
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            self.inflight.discard(params.get("requestId", ""))
            self.last_activity = time.monotonic()
        elif method == "Network.responseReceived" and params.get("type") == "Document" \
                and params.get("frameId") == self.main_frame:
            self.render.status = int(params.get("response", {}).get("status") or 0) or None

    def _request(self, params: dict[str, Any]) -> None:
        self.inflight.add(params.get("requestId", ""))
        self.last_activity = time.monotonic()
        self.render.requests += 1
        parts = urlsplit(params.get("request", {}).get("url", ""))
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname:
            self.render.domains.setdefault(parts.hostname.lower(), str(params.get("type") or "Other"))
        if params.get("type") == "Document" and self.main_frame is None:
            self.main_frame = params.get("frameId")

    def restart(self, render: Render) -> None:
        """Count a new navigation of the same tab into `render`."""
        self.render, self.loaded, self.inflight = render, threading.Event(), set()
        self.last_activity = time.monotonic()

    def settle(self, budget: _Budget) -> None:
        """Wait for the load event, then for the network to be quiet a moment (timers, late injections)."""
        self.loaded.wait(budget.left())
        if not self.loaded.is_set():
            raise CDPTimeout("the page did not finish loading")
        end = min(time.monotonic() + SETTLE_MAX, budget.end - 1.0)  # leave time to read the DOM
        while time.monotonic() < end:
            if not self.inflight and time.monotonic() - self.last_activity >= SETTLE_QUIET:
                return
            time.sleep(0.05)


def _user_agent(conn: Connection) -> str:
    """The browser's own user agent without the `Headless` word some sites cloak against."""
    version = conn.call("Browser.getVersion", timeout=5)
    return str(version.get("userAgent", "")).replace("HeadlessChrome", "Chrome")


class Renderer:
    """Renders pages in one Browser; each call is independent (a fresh context, thrown away after)."""

    def __init__(self, browser: Browser, budget: float = 20.0) -> None:
        self.browser, self.budget = browser, budget
        self._ua: str | None = None

    def render(self, url: str, referrer_check: bool = True, screenshot: bool = True) -> Render:
        """Render `url` (then again with a search-engine Referer, final URL only); never raises."""
        result = Render(url=url, started=time.time())
        start = time.monotonic()
        if urlsplit(url).scheme not in ("http", "https"):
            result.reason, result.error = "refused", f"only http and https pages are rendered (not {url[:60]!r})"
            return result
        try:
            self._session(url, result, _Budget(self.budget), screenshot, referrer_check)
        except CDPTimeout as exc:
            result.reason = "timeout" if self.browser.alive else self.browser.killed_for or "crash"
            result.error = f"render cut off after {time.monotonic() - start:.1f}s (budget {self.budget:g}s): {exc}"
        except _NavigationError as exc:
            result.reason, result.error = "navigation", str(exc)[:300]
        except CDPError as exc:
            result.reason = "browser" if self.browser.alive else self.browser.killed_for or "crash"
            result.error = str(exc)[:300]
        result.duration = time.monotonic() - start
        return result

    def _session(self, url: str, result: Render, budget: _Budget, shot: bool, referrer_check: bool) -> None:
        conn = self.browser.conn
        if conn is None:
            raise CDPError("the browser is not running")
        if self._ua is None:
            self._ua = _user_agent(conn)
        context = conn.call("Target.createBrowserContext", {"disposeOnDetach": True},
                            timeout=budget.left(5))["browserContextId"]
        try:
            conn.call("Browser.setDownloadBehavior", {"behavior": "deny", "browserContextId": context},
                      timeout=budget.left(5))
            target = conn.call("Target.createTarget", {"url": "about:blank", "browserContextId": context},
                               timeout=budget.left(5))["targetId"]
            session = conn.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                timeout=budget.left(5))["sessionId"]
            tab = _Tab(conn, session, result)
            conn.on(session, tab)
            try:
                self._setup(conn, session, budget, block_passive=False)
                self._navigate(conn, tab, url, None, budget)
                self._read(conn, session, result, budget, shot)
                if referrer_check:
                    result.referrer_final_url = self._referrer_pass(conn, session, tab, url, budget)
            except CDPTimeout:
                _terminate(conn, session)
                raise
            finally:
                conn.on(session, None)
        finally:
            _dispose(conn, context)

    def _setup(self, conn: Connection, session: str, budget: _Budget, block_passive: bool) -> None:
        width, height = VIEWPORT
        patterns = [{"urlPattern": "file:*"}]
        if block_passive:  # the referrer pass only needs where the page goes: skip what only paints
            patterns += [{"urlPattern": "*", "resourceType": kind} for kind in PASSIVE_TYPES]
        for method, params in (("Page.enable", {}), ("Network.enable", {"maxTotalBufferSize": 0}),
                               ("Fetch.enable", {"patterns": patterns}),
                               ("Network.setUserAgentOverride", {"userAgent": self._ua or ""}),
                               ("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                                       "deviceScaleFactor": 1, "mobile": False})):
            conn.call(method, params, session, timeout=budget.left(5))

    def _navigate(self, conn: Connection, tab: _Tab, url: str, referrer: str | None, budget: _Budget) -> None:
        params = {"url": url, **({"referrer": referrer, "referrerPolicy": "unsafeUrl"} if referrer else {})}
        answer = conn.call("Page.navigate", params, tab.session, timeout=budget.left())
        if answer.get("errorText"):
            raise _NavigationError(f"{answer['errorText']} loading {url}")
        tab.settle(budget)

    def _referrer_pass(self, conn: Connection, session: str, tab: _Tab, url: str, budget: _Budget) -> str | None:
        """Visit again as if arriving from a search engine, in the same tab (a new context would cost a new
        renderer process, ~0.5 CPU-s) but with the first visit forgotten: page unloaded, then its cookies,
        storage and cache cleared, so a cloaker sees a first-time visitor."""
        tab.loaded.clear()
        conn.call("Page.navigate", {"url": "about:blank"}, session, timeout=budget.left(5))
        tab.loaded.wait(budget.left(5))   # its load event must not be taken for the next page's
        origins = {f"{p.scheme}://{p.netloc}" for p in map(urlsplit, (url, tab.render.final_url or url)) if p.netloc}
        conn.call("Network.clearBrowserCookies", {}, session, timeout=budget.left(5))
        conn.call("Network.clearBrowserCache", {}, session, timeout=budget.left(5))
        for origin in origins:
            conn.call("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"}, session,
                      timeout=budget.left(5))
        probe = Render(url=url, started=tab.render.started)
        tab.restart(probe)
        self._setup(conn, session, budget, block_passive=True)
        self._navigate(conn, tab, url, SEARCH_REFERER, budget)
        value = conn.call("Runtime.evaluate", {"expression": "location.href", "returnByValue": True,
                                               "timeout": int(budget.left() * 1000)}, session, timeout=budget.left())
        return value.get("result", {}).get("value")

    def _read(self, conn: Connection, session: str, result: Render, budget: _Budget, shot: bool) -> None:
        value = conn.call("Runtime.evaluate", {"expression": _DOM_JS, "returnByValue": True,
                                               "timeout": int(budget.left() * 1000)},
                          session, timeout=budget.left())
        data = value.get("result", {}).get("value") or {}
        result.final_url, result.dom = data.get("href"), data.get("html", "")
        result.dom_size = int(data.get("size") or 0)
        if shot:
            image = conn.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False},
                              session, timeout=budget.left())
            result.screenshot = base64.b64decode(image.get("data", ""))


class _NavigationError(CDPError):
    pass


def _terminate(conn: Connection, session: str) -> None:
    """Stop the page's JavaScript (an endless loop holds its main thread)."""
    try:
        conn.call("Runtime.terminateExecution", {}, session, timeout=2)
    except CDPError:
        pass


def _dispose(conn: Connection, context: str) -> None:
    """Throw the render's context away (its tabs, cookies, storage); a browser that cannot is restarted."""
    try:
        conn.call("Target.disposeBrowserContext", {"browserContextId": context}, timeout=5)
    except CDPError:
        pass
