"""Same-site stylesheets a page links, fetched with the page: bounded in count and size, cached by URL+ETag.

Spam injectors hide their link blocks from an external stylesheet as often as from the page itself (a
rule appended to the theme's `style.css`), and a banner can be written by `::before { content: ... }`
there. Only stylesheets of the page's own site are fetched (the registrable domain: `www.moc.gov.kh`
and `static.moc.gov.kh` are one site): a CDN's framework CSS is the same for everyone and costs time.
Each is revalidated with If-None-Match, so an unchanged theme costs one 304 per poll.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from govwatch.agents.defacement.profile import url_domain

log = logging.getLogger("govwatch.defacement.stylesheets")
MAX_SHEETS = 8
MAX_SHEET_BYTES = 512 * 1024
CACHE_SIZE = 64

# (url, etag or None) -> (status, text, etag): 304 means "unchanged"
SheetGet = Callable[[str, str | None], tuple[int, str, str | None]]


def linked(html: str, page_url: str) -> list[str]:
    """Absolute URLs of the same-site stylesheets the page links, in document order (at most MAX_SHEETS)."""
    site = url_domain(page_url)
    if site is None:
        return []
    try:
        nodes = LexborHTMLParser(html[:16_000_000]).css('link[rel~="stylesheet" i][href]')
    except (UnicodeEncodeError, ValueError):
        return []
    urls: list[str] = []
    for node in nodes:
        url = urljoin(page_url, (node.attributes.get("href") or "").strip())
        if urlsplit(url).scheme in ("http", "https") and url_domain(url) == site and url not in urls:
            urls.append(url)
        if len(urls) >= MAX_SHEETS:
            break
    return urls


class SheetCache:
    """The text of a site's stylesheets, refreshed with conditional GETs."""

    def __init__(self, get: SheetGet) -> None:
        self.get = get
        self.cache: OrderedDict[str, tuple[str | None, str]] = OrderedDict()

    def sheets(self, html: str, page_url: str) -> list[str]:
        """The text of every same-site stylesheet the page links (a failed fetch is left out)."""
        out = []
        for url in linked(html, page_url):
            text = self._one(url)
            if text:
                out.append(text)
        return out

    def _one(self, url: str) -> str | None:
        etag, text = self.cache.get(url, (None, ""))
        try:
            status, body, new_etag = self.get(url, etag)
        except Exception as exc:  # a stylesheet that cannot be fetched is read as absent, never an error
            log.debug("stylesheet %s: %s", url, exc)
            return text or None
        if status == 304 and text:
            self.cache.move_to_end(url)
            return text
        if not 200 <= status < 300:
            return None
        self.cache[url] = (new_etag, body[:MAX_SHEET_BYTES])
        self.cache.move_to_end(url)
        while len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)
        return body[:MAX_SHEET_BYTES]
