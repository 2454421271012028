"""Keep HTML5 tree building linear: flatten nesting deeper than a browser keeps.

The HTML5 tree-construction algorithm searches the stack of open elements for every block-level start
tag ("is there a <p> in button scope?") and for every end tag, so a document of n nested `<div>`s costs
n^2 steps: 40,000 of them took Lexbor 2.8 s, 100,000 took 23 s. Chromium caps the depth at 512 and
makes deeper elements siblings; this does the same before parsing, by renaming tags beyond `LIMIT` to
`<wbr>` (a void element: attributes kept, no nesting) and their end tags to `</wbr>` (ignored).

Cheap on ordinary pages: a document with fewer than `SCAN_FROM` tags cannot cost more than ~20 ms
however it nests, so it is returned untouched without a scan. Tags whose end tag is optional and that
close their own kind (`<p>`, `<li>`, `<td>`...) and void elements do not deepen the count, so a sloppy
page with thousands of unclosed `<li>` keeps every tag.
"""

from __future__ import annotations

import re

LIMIT = 512
SCAN_FROM = 4096
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]{0,30})")
_FLAT = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
         "wbr", "keygen", "frame", "basefont", "bgsound", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td",
         "th", "tbody", "thead", "tfoot", "rb", "rt", "rp", "rtc", "colgroup", "caption", "html", "head", "body",
         "image"}


class _Depth:
    """Open elements counted per name: an end tag closes only a name that is open (a stray `</x>` does
    nothing, as in the parser, so `<span></x>` repeated still deepens)."""

    def __init__(self) -> None:
        self.level = 0
        self.open: dict[str, int] = {}

    def step(self, slash: str, name: str) -> bool:
        """Count one tag; True when it is a start tag (False for an end tag that closes something)."""
        if slash:
            if self.open.get(name, 0) > 0:
                self.open[name] -= 1
                self.level -= 1
            return False
        self.open[name] = self.open.get(name, 0) + 1
        self.level += 1
        return True


def _too_deep(tags: list[tuple[str, str]]) -> bool:
    depth = _Depth()
    for slash, name in tags:
        low = name.lower()
        if low not in _FLAT and depth.step(slash, low) and depth.level > LIMIT:
            return True
    return False


def flatten(document: str) -> str:
    """The document with nesting beyond LIMIT levels flattened (unchanged when it never goes that deep)."""
    if document.count("<") < SCAN_FROM or not _too_deep(_TAG.findall(document)):
        return document
    depth = _Depth()

    def rename(match: re.Match[str]) -> str:
        slash, name = match.group(1, 2)
        low = name.lower()
        if low in _FLAT:
            return match.group(0)
        if slash:   # an end tag beyond the limit closes a renamed element: drop it; a stray one too
            deep = depth.level > LIMIT
            if not depth.step(slash, low) and not deep:
                return match.group(0)
            return "</wbr"
        depth.step(slash, low)
        return "<wbr" if depth.level > LIMIT else match.group(0)

    return _TAG.sub(rename, document)
