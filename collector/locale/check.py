"""Find English left in a Khmer page: the words a Khmer reader would meet untranslated.

Visible text only (no attributes, scripts, styles or SVG), skipping what is not ours to translate:
code and preformatted text, the analysed page's own text (`table.diff`), and elements marked
`lang="en"` (an agent's own English words, labelled as such) or `translate="no"` (names, addresses).
Whatever Latin word remains must be on the caller's allow-list (site and agent names, product names,
units such as HTTP or Mbit/s); the tests of the console and the report call this on every Khmer page.

Usage: python -m govwatch.collector.locale.check page.html [ALLOWED_WORD ...]  (exit 1 when English found)
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser

SKIP_TAGS = {"code", "pre", "script", "style", "svg", "title", "textarea"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")
URLISH = re.compile(r"\S*(?:://|/|\.[a-z]{2,4}\b|@|_)\S*")
ALWAYS = {"govwatch", "HTTP", "HTTPS", "URL", "SYN", "UDP", "ICMP", "TCP", "SSH", "ACK", "RST", "FIN", "PSH", "DNS",
          "ms", "bit", "kbit", "Mbit", "Gbit"}
# technical terms and names the Khmer catalogue keeps as they are (as Khmer IT writing does)
TERMS = ("govwatch collector init", "collector init", "admin-token", "web shell", "meta refresh", "setuid",
         "slowloris", "zone-h", "mirror-h", "haxor.id", "collector.yml", "web_root")


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []  # per open element: is it skipped?
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        values = dict(attrs)
        classes = (values.get("class") or "").split()
        skip = (tag in SKIP_TAGS or values.get("lang") == "en" or values.get("translate") == "no"
                or (tag == "table" and "diff" in classes))
        self.stack.append(skip or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return " ".join(parser.parts)


def english_words(html: str, allowed: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Latin words in the visible, translatable text that are not allowed (URLs and paths never count)."""
    text = URLISH.sub(" ", visible_text(html))
    allow = {a.lower() for a in (*allowed, *ALWAYS)}
    for name in sorted({*allowed, *TERMS}, key=len, reverse=True):  # names with spaces, dots or dashes
        text = text.replace(name, " ")
    return [word for word in WORD.findall(text) if word.lower() not in allow]


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as handle:
        found = english_words(handle.read(), set(argv[1:]))
    if found:
        print(f"{argv[0]}: English words in a Khmer page: {', '.join(sorted(set(found)))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
