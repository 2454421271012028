"""The agent's `defacement` watcher: polls each configured page as a browser and as a search-engine crawler.

One thread per site fetches the page every `interval` with a real browser User-Agent and feeds a
SiteMonitor (learns from the first fetches, then reports state flips). Every `crawler_every`-th poll it
also fetches as Googlebot with a search-engine Referer and judges that page against the *browser's*
profile: SEO spam and referrer-conditional redirects are often served to crawlers and search visitors
only (cloaking). Monitors are saved in `data_dir/defacement/<site>.json` so profiles survive restarts.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from govwatch.agents.base import Emit, register
from govwatch.agents.defacement.bounded import Pool
from govwatch.agents.defacement.detector import default_rules
from govwatch.agents.defacement.monitor import Change, SiteMonitor
from govwatch.agents.defacement.stylesheets import MAX_SHEET_BYTES, SheetCache
from govwatch.durations import format_duration
from govwatch.events import Event
from govwatch.schema import Field

log = logging.getLogger("govwatch.defacement")
BROWSER_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0 Safari/537.36")
CRAWLER_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SEARCH_REFERER = "https://www.google.com/"
SAVE_EVERY = 20
LOCAL_SITES = 50


def _http_url(url: str) -> str | None:
    parts = urlsplit(url)
    return None if parts.scheme in ("http", "https") and parts.hostname else f"must be an http(s) URL (got {url!r})"


def _unique_names(sites: list[dict[str, Any]]) -> str | None:
    names = [s["name"] for s in sites]
    dupes = sorted({n for n in names if names.count(n) > 1})
    return f"site names must be unique ({', '.join(dupes)} repeated)" if dupes else None


def _safe_name(name: str) -> str | None:
    return None if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name) else "use letters, digits, '.', '_' or '-' (<= 64)"


SITE = Field("map", fields={
    "name": Field("str", required=True, check=_safe_name, doc="site name (the metric label)"),
    "url": Field("str", required=True, check=_http_url, doc="page to watch"),
    "interval": Field("duration", default=60.0, minimum=0.2, doc="time between fetches"),
    "timeout": Field("duration", default=10.0, minimum=0.1, doc="fetch timeout"),
    "learn_samples": Field("int", default=3, minimum=1, doc="good fetches learned before judging"),
    "crawler_check": Field("bool", default=True, doc="also fetch as a search-engine crawler (cloaking)"),
    "crawler_every": Field("int", default=5, minimum=1, doc="crawler fetch every Nth poll"),
    "verify_tls": Field("bool", default=True, doc="check the site's TLS certificate"),
    "defaced_after": Field("int", default=2, minimum=1, doc="defaced verdicts in a row before alerting"),
    "clean_after": Field("int", default=2, minimum=1, doc="clean verdicts in a row before clearing"),
})
SCHEMA = Field("map", fields={
    "sites": Field("list", required=True, item=SITE, check=_unique_names, doc="pages to watch"),
    "rules": Field("str", doc="defacement rules folder (default: the installed rules/defacement)"),
    "user_agent": Field("str", default=BROWSER_UA, doc="browser User-Agent for normal fetches"),
    "max_bytes": Field("size", default=5 * 2**20, minimum=1024, doc="largest page read"),
})


def describe(cfg: dict[str, Any]) -> list[str]:
    lines = []
    for site in cfg["sites"]:
        crawler = f", as crawler every {site['crawler_every']} polls" if site["crawler_check"] else ""
        lines.append(f"defacement: {site['name']} {site['url']} every {format_duration(site['interval'])}{crawler}")
    return lines


def decode(body: bytes, content_type: str | None) -> str:
    """Bytes to text: the header's charset, else the page's <meta charset>, else UTF-8."""
    match = re.search(r"charset=([\w-]+)", content_type or "", re.I)
    if not match:
        match = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", body[:4096], re.I)
    charset = match.group(1) if match else "utf-8"
    charset = charset.decode("ascii", "replace") if isinstance(charset, bytes) else charset
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


class Fetcher:
    """HTTP GET with timeouts, a size cap and chosen headers; returns (status, text, final_url)."""

    def __init__(self, timeout: float, verify: bool, max_bytes: int) -> None:
        self.session = requests.Session()
        self.timeout, self.verify, self.max_bytes = timeout, verify, max_bytes

    def get(self, url: str, headers: dict[str, str]) -> tuple[int, str, str]:
        with self.session.get(url, headers=headers, timeout=self.timeout, verify=self.verify, stream=True,
                              allow_redirects=True) as response:
            body = b""
            for chunk in response.iter_content(65536):
                body += chunk
                if len(body) >= self.max_bytes:
                    break
            return response.status_code, decode(body, response.headers.get("Content-Type")), response.url

    def get_sheet(self, url: str, etag: str | None) -> tuple[int, str, str | None]:
        """A stylesheet, revalidated by ETag (304 = unchanged), read up to MAX_SHEET_BYTES."""
        headers = {"User-Agent": BROWSER_UA, "Accept": "text/css,*/*;q=0.1"} | ({"If-None-Match": etag} if etag else {})
        with self.session.get(url, headers=headers, timeout=self.timeout, verify=self.verify, stream=True,
                              allow_redirects=True) as response:
            body = b""
            for chunk in response.iter_content(65536):
                body += chunk
                if len(body) >= MAX_SHEET_BYTES:
                    break
            return response.status_code, decode(body, response.headers.get("Content-Type")), response.headers.get(
                "ETag")

    def close(self) -> None:
        self.session.close()


class SiteLoop:
    """One site's poll loop: browser view every interval, crawler view every Nth poll."""

    def __init__(self, site: dict[str, Any], section: dict[str, Any], rules: list, state_dir: str | None,
                 engine: Any = None) -> None:
        self.site, self.section, self.state_dir = site, section, state_dir
        options = {"learn_samples": site["learn_samples"], "defaced_after": site["defaced_after"],
                   "clean_after": site["clean_after"], "engine": engine}
        saved = self._load(rules, options)
        self.browser = saved[0] if saved else SiteMonitor(site["name"], site["url"], rules=rules, **options)
        self.crawler = SiteMonitor(site["name"], site["url"], rules=rules, view="crawler", learns=False,
                                   profile=self.browser.profile, **options)
        if saved and isinstance(saved[1], dict):   # a restart must not raise the crawler view's alarm again
            self.crawler.current = str(saved[1].get("state", self.crawler.current))
            self.crawler.bad, self.crawler.good = int(saved[1].get("bad", 0)), int(saved[1].get("good", 0))
        self.fetcher = Fetcher(site["timeout"], site["verify_tls"], section["max_bytes"])
        self.sheets = SheetCache(self.fetcher.get_sheet)
        self.polls = self.errors = 0
        self.lock = threading.Lock()
        # The last browser fetch, sent in heartbeats: the collector's inside view of the site ("up inside,
        # down outside" = network or DNS, not the server; collector/vantage.py).
        self.local: dict[str, Any] | None = None

    def _path(self) -> str | None:
        return os.path.join(self.state_dir, f"{self.site['name']}.json") if self.state_dir else None

    def _load(self, rules: list, options: dict[str, Any]) -> tuple[SiteMonitor, Any] | None:
        path = self._path()
        if not path or not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as handle:
                saved = json.load(handle)
            if saved.get("url") != self.site["url"]:
                log.info("%s: URL changed since the saved profile; learning again", self.site["name"])
                return None
            return SiteMonitor.from_dict(saved, rules=rules, **options), saved.get("crawler")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: saved profile unusable (%s); learning again", self.site["name"], exc)
            return None

    def save(self) -> None:
        path = self._path()
        if not path:
            return
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            with self.lock:
                data = self.browser.to_dict()
                data["crawler"] = {"state": self.crawler.current, "bad": self.crawler.bad,
                                   "good": self.crawler.good}
            with open(path + ".tmp", "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(path + ".tmp", path)
        except OSError as exc:
            log.warning("%s: cannot save profile: %s", self.site["name"], exc)

    def poll(self, emit: Emit) -> None:
        """One cycle: fetch as a browser, then (every Nth cycle) as a crawler; emit flips."""
        self.polls += 1
        learned_before = bool(self.browser.profile and self.browser.profile.learned)
        change = self._view(self.browser, {"User-Agent": self.section["user_agent"]})
        if change:
            emit(to_event(change))
        self.crawler.profile = self.browser.profile
        if self.site["crawler_check"] and learned_before and self.polls % self.site["crawler_every"] == 0:
            change = self._view(self.crawler, {"User-Agent": CRAWLER_UA, "Referer": SEARCH_REFERER})
            if change:
                emit(to_event(change))
        learned_now = bool(self.browser.profile and self.browser.profile.learned)
        if change or learned_now != learned_before or self.polls % SAVE_EVERY == 0:
            self.save()

    def _view(self, monitor: SiteMonitor, headers: dict[str, str]) -> Change | None:
        headers = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
                   "Accept-Language": "km,en;q=0.8", **headers}
        try:
            status, text, final_url = self.fetcher.get(self.site["url"], headers)
        except requests.RequestException as exc:
            self.errors += 1
            log.debug("%s: fetch failed: %s", self.site["name"], exc)
            if monitor is self.browser:
                self.local = {"ts": round(time.time(), 1), "up": False, "status": None, "error": type(exc).__name__}
            return None
        if monitor is self.browser:
            self.local = {"ts": round(time.time(), 1), "up": 200 <= status < 400, "status": status, "error": None}
        sheets = self.sheets.sheets(text, final_url) if 200 <= status < 300 else []
        with self.lock:
            return monitor.observe(text, status, time.time(), final_url, stylesheets=sheets)

    def rebaseline(self) -> Change | None:
        with self.lock:
            change = self.browser.rebaseline()
            self.crawler.profile = self.browser.profile
            self.crawler.current = "clean" if self.browser.profile else "learning"
            self.crawler.bad = self.crawler.good = 0
        self.save()
        return change


def to_event(change: Change) -> Event:
    return Event("defacement", change.to_event_data(), change.severity, change.summary())


class DefacementWatcher:
    """Polls every configured page in its own thread."""

    name = "defacement"

    def __init__(self, section: dict[str, Any], agent_cfg: dict[str, Any]) -> None:
        rules = default_rules(section.get("rules"))
        data_dir = agent_cfg.get("data_dir")
        state_dir = os.path.join(data_dir, "defacement") if data_dir else None
        # Judging runs in worker processes with a hard deadline: a hostile page stalls one site, never the watcher.
        self.pool = Pool(size=min(4, max(1, len(section["sites"]))), rules_dir=section.get("rules"))
        self.loops = [SiteLoop(site, section, rules, state_dir, self.pool) for site in section["sites"]]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._emit: Emit | None = None

    def start(self, emit: Emit) -> None:
        self._emit = emit
        for loop in self.loops:
            thread = threading.Thread(target=self._run, args=(loop, emit), name=f"deface-{loop.site['name']}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, loop: SiteLoop, emit: Emit) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                loop.poll(emit)
            except Exception:  # a bad page must never kill the watcher
                log.exception("%s: poll failed", loop.site["name"])
            self._stop.wait(max(0.0, loop.site["interval"] - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads = []
        for loop in self.loops:
            loop.save()
            loop.fetcher.close()
        self.pool.close()

    def command(self, kind: str, arg: str) -> None:
        """Collector commands: `rebaseline <site>` accepts the site's current page as its new baseline."""
        if kind != "rebaseline":
            return
        for loop in self.loops:
            if loop.site["name"] == arg:
                change = loop.rebaseline()
                if change and self._emit:
                    self._emit(to_event(change))

    def stats(self) -> dict[str, Any]:
        return {"sites": len(self.loops),
                "defaced": sum(1 for loop in self.loops if loop.browser.defaced or loop.crawler.defaced),
                "fetch_errors": sum(loop.errors for loop in self.loops), "judgments_stopped": self.pool.stopped,
                # at most LOCAL_SITES entries (~60 bytes each): heartbeat stats are capped at 8 KiB
                "local": {loop.site["name"]: loop.local for loop in self.loops[:LOCAL_SITES] if loop.local}}


@register("defacement", schema=SCHEMA, describe=describe)
def factory(section: dict[str, Any], agent_cfg: dict[str, Any]) -> DefacementWatcher:
    return DefacementWatcher(section, agent_cfg)
