"""Read a page the way a browser builds it: visible and hidden text, links, scripts, comments, overlays.

The document goes through Lexbor (via selectolax), a spec-compliant HTML5 parser in C: the tree it
builds is the browser's, so text the parser moves out of `<head>` or a table, SVG `<text>`, form
controls and comment endings browsers accept (`--!>`) are where a browser puts them. A regex reader
disagreed with browsers exactly where defacers hide banners, and backtracked for minutes on a stray
quote. How the tree is read (reader.py) and what it costs: README, Defacement.

HTML5 tree building is quadratic in nesting depth (every block start tag and stray end tag searches the
open-element stack), so a page nested thousands deep is flattened first the way Chromium does it
(`depth.flatten`): beyond 512 levels new elements become siblings.
"""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from govwatch.agents.defacement import blocks, css, depth, structure
from govwatch.agents.defacement.page import Frame, Link, Page, normalise
from govwatch.agents.defacement.reader import Reader

MAX_CHARS = 16_000_000   # above the watcher's 5 MB and the prober's 2 MB fetch limits
_NOT_NAVIGATION = ("http:", "https:", "//", "#", "javascript:", "mailto:", "tel:")


def hiding_style(style: str) -> bool:
    """True if a style keeps the element from a visitor's eyes (see css.hiding_style)."""
    return css.hiding_style(style)


def _open(document: str) -> LexborHTMLParser:
    document = depth.flatten(document[:MAX_CHARS])
    try:
        return LexborHTMLParser(document)
    except (UnicodeEncodeError, UnicodeDecodeError):   # lone surrogates from a mis-decoded body
        return LexborHTMLParser(document.encode("utf-8", "replace"))


def parse(document: str, stylesheets: list[str] | None = None,
          cache: blocks.Cache | None = blocks.SHARED) -> Page:
    """Read a document (and the text of its linked stylesheets, when fetched) into a Page; `cache`
    remembers the reading of unchanged blocks between calls (None: read every block afresh)."""
    tree = _open(document)
    page = Reader(tree, stylesheets or [], cache if cache is not None and cache.enabled else None).read()
    low = document.lower() if len(document) <= structure.MAX_BYTES else document   # large: not examined
    internal = sum(1 for link in page.links if link.tag == "a" and not link.url.startswith(_NOT_NAVIGATION))
    page.signals = structure.signals(document, low, page.text, page.tags, internal,
                                     any(frame.tiny or frame.hidden for frame in page.frames))
    return page


__all__ = ["Frame", "Link", "MAX_CHARS", "Page", "hiding_style", "normalise", "parse"]
