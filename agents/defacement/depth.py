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


def _too_deep(tags: list[tuple[str, str]]) -> bool:
    level = 0
    for slash, name in tags:
        if name.lower() in _FLAT:
            continue
        if slash:
            level = level - 1 if level else 0
        else:
            level += 1
            if level > LIMIT:
                return True
    return False


def flatten(document: str) -> str:
    """The document with nesting beyond LIMIT levels flattened (unchanged when it never goes that deep)."""
    if document.count("<") < SCAN_FROM or not _too_deep(_TAG.findall(document)):
        return document
    level = 0

    def rename(match: re.Match[str]) -> str:
        nonlocal level
        slash, name = match.group(1, 2)
        if name.lower() in _FLAT:
            return match.group(0)
        if slash:
            level = level - 1 if level else 0
            return "</wbr" if level >= LIMIT else match.group(0)
        level += 1
        return "<wbr" if level > LIMIT else match.group(0)

    return _TAG.sub(rename, document)
