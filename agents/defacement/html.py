"""Read a page the way a browser builds it: visible and hidden text, links, scripts, comments, overlays.

The document goes through Lexbor (via selectolax), a spec-compliant HTML5 parser in C: the tree it
builds is the browser's, so text the parser moves out of `<head>` or a table, SVG `<text>`, form
controls and comment endings browsers accept (`--!>`) are where a browser puts them. A regex reader
disagreed with browsers exactly where defacers hide banners, and backtracked for minutes on a stray
quote. Cost, measured on a dense 100 KB page: 0.85 ms to parse, ~4 ms with the reading below.

HTML5 tree building is quadratic in nesting depth (every block start tag and stray end tag searches the
open-element stack), so a page nested thousands deep is flattened first the way Chromium does it
(`depth.flatten`): beyond 512 levels new elements become siblings.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from govwatch.agents.defacement import css, depth, structure

MAX_CHARS = 16_000_000   # above the watcher's 5 MB and the prober's 2 MB fetch limits
MAX_COMMENTS = 200
_INLINE = {"a", "abbr", "b", "bdi", "bdo", "big", "blink", "cite", "code", "data", "del", "dfn", "em", "font",
           "i", "ins", "kbd", "mark", "nobr", "q", "s", "samp", "small", "span", "strike", "strong", "sub",
           "sup", "time", "tt", "u", "var", "wbr", "-text", "-comment", "img", "label", "output"}
_SKIP = {"script", "style", "template", "title", "head", "meta", "link", "base"}
_UNPAINTED = {"noscript", "desc", "metadata", "defs", "clippath", "mask", "symbol", "pattern", "lineargradient",
              "radialgradient", "filter", "marker"}   # <noscript>: a browser with scripts on shows none of it
_VALUE_INPUTS = {"", "text", "submit", "button", "reset", "search", "email", "url", "tel", "number"}
_URL_ATTRS = {"script": "src", "iframe": "src", "frame": "src", "img": "src", "link": "href", "a": "href",
              "area": "href", "form": "action", "embed": "src", "object": "data", "audio": "src",
              "video": "src", "source": "src", "base": "href", "input": "src"}
_MARK = "data-govwatch-hidden"
_SEP = "\x1f"   # between text nodes of different blocks; a newline inside text is only a space, as in browsers
_STRIP = ["script", "style", "template", "title", "head", *sorted(_UNPAINTED)]   # never painted
_UNWRAP_SELECTOR = ", ".join(sorted(_INLINE - {"-text", "-comment", "img", "wbr"}))
_SPECIAL = {*_SKIP, *_UNPAINTED, *_URL_ATTRS, "meta", "title", "input", "textarea", "img", "h1", "h2", "h3",
            "dialog"}
_ABSOLUTE = ("http", "//")
_NOT_NAVIGATION = ("http:", "https:", "//", "#", "javascript:", "mailto:", "tel:")


@dataclass(slots=True)
class Link:
    """A URL the page references, where (tag), whether it sits in hidden markup, and its anchor text."""

    tag: str
    url: str
    hidden: bool
    text: str = ""
    rel: str = ""


@dataclass(slots=True)
class Frame:
    """An iframe/frame: its source and whether a visitor could see it."""

    src: str
    hidden: bool
    tiny: bool


@dataclass
class Page:
    """What the sensors read from one HTML document."""

    title: str = ""
    text: list[str] = field(default_factory=list)
    hidden_text: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    refresh: list[str] = field(default_factory=list)
    shingles: set[str] = field(default_factory=set)
    landmarks: set[str] = field(default_factory=set)
    tags: int = 0
    signals: set[str] = field(default_factory=set)
    comments: list[str] = field(default_factory=list)
    overlays: list[str] = field(default_factory=list)
    stylesheets: list[str] = field(default_factory=list)   # same-document <link rel=stylesheet> hrefs
    # Evidence only: visible then "[hidden] " lines and the title in the page's own case (analysts read "HACKED",
    # not "hacked"); every judgment uses the folded fields above.
    display: list[str] = field(default_factory=list)
    display_title: str = ""


def normalise(text: str) -> str:
    """Fold text to how signatures and profiles compare it: NFKC, lower case, one space."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split()).lower()


def hiding_style(style: str) -> bool:
    """True if a style keeps the element from a visitor's eyes (see css.hiding_style)."""
    return css.hiding_style(style)


def _tiny(attrs: dict[str, str | None]) -> bool:
    for key in ("width", "height"):
        value = (attrs.get(key) or "").strip().lower().removesuffix("px")
        if value.replace(".", "", 1).isdigit() and float(value) <= 2:
            return True
    flat = css.compact(attrs.get("style") or "")
    return any(f"{key}:{n}" in flat and not flat.split(f"{key}:{n}", 1)[1][:1].isdigit()
               for key in ("width", "height") for n in "012")


def _select(tree: LexborHTMLParser, selectors: tuple[str, ...]) -> list[LexborNode]:
    """Elements matching any selector: one pass for the whole list, one per selector if one is bad."""
    if not selectors:
        return []
    try:
        return tree.css(", ".join(selectors))
    except SelectolaxError:
        found: list[LexborNode] = []
        for selector in selectors:
            try:
                found += tree.css(selector)
            except SelectolaxError:
                continue
        return found


def _open(document: str) -> LexborHTMLParser:
    document = depth.flatten(document[:MAX_CHARS])
    try:
        return LexborHTMLParser(document)
    except (UnicodeEncodeError, UnicodeDecodeError):   # lone surrogates from a mis-decoded body
        return LexborHTMLParser(document.encode("utf-8", "replace"))


class _Reader:
    """Read the parsed tree: one Python pass over the elements, then Lexbor (C) for the text.

    Visiting every text node from Python cost more than parsing; instead hidden subtrees are marked
    and cut out, what is never painted (scripts, styles, <noscript>, <template>, SVG titles) is stripped,
    inline elements are unwrapped and adjacent text merged, so Lexbor's own text serialisation yields
    one line per block, as a browser lays it out.
    """

    def __init__(self, tree: LexborHTMLParser, extra_css: list[str]) -> None:
        self.page = Page()
        self.tree = tree
        sheets = [css.read(node.text(deep=True)) for node in tree.css("style")]
        sheets += [css.read(text) for text in extra_css]
        sheet = css.merge(sheets)
        found = _select(tree, sheet.hiding) + tree.css("[hidden], dialog:not([open])")
        found += [node for node in tree.css("[style]") if css.hiding_style(node.attributes.get("style") or "")]
        roots: dict[int, tuple[LexborNode, str]] = {}   # by identity: one element may match several rules
        for node in found:
            if node.tag != "html" and node.mem_id not in roots:
                roots[node.mem_id] = (node, node.tag or "")
                node.attrs[_MARK] = "1"
        self.roots = roots
        self.hidden = {node.mem_id for node in _select(tree, (f"[{_MARK}]", f"[{_MARK}] *"))}
        self.overlay_ids = {node.mem_id for node in _select(tree, sheet.overlays)}
        self.generated: dict[int, list[tuple[str, str]]] = {}
        for selector, where, text in sheet.content:
            for node in _select(tree, (selector,))[:200]:
                self.generated.setdefault(node.mem_id, []).append((where, text))
        self.marked = bool(self.generated or self.overlay_ids)
        self.extra: tuple[list[str], list[str]] = ([], [])   # painted text that is not a text node
        self.shape: list[str] = []

    def read(self) -> Page:
        root = self.tree.root
        if root is None:
            return self.page
        for node in root.traverse(include_text=False):
            tag = node.tag
            if tag == "-comment":
                self.comment(node)
            elif tag and not tag.startswith("-"):
                self.element(node, tag)
        self.text()
        return self.finish()

    def comment(self, node: LexborNode) -> None:
        if len(self.page.comments) < MAX_COMMENTS:
            text = normalise(node.comment_content or "")
            if text:
                self.page.comments.append(text[:2000])

    def element(self, node: LexborNode, tag: str) -> None:
        """Read one element: its shape, id, links, and what it paints besides its text nodes."""
        attrs = node.attributes
        page = self.page
        page.tags += 1
        cls = (attrs.get("class") or "").split() if attrs else ()
        self.shape.append(tag + "." + cls[0].lower() if cls else tag)
        ident = attrs.get("id")
        if ident and len(ident) < 60 and len(ident.split()) == 1:
            page.landmarks.add("id:" + ident.lower())
        if tag not in _SPECIAL and "style" not in attrs and not self.marked:
            return   # most elements: nothing else to read (and their identity is not asked: it costs)
        mem = node.mem_id
        hidden = mem in self.hidden
        if tag in _URL_ATTRS or tag == "meta":
            self.link(node, tag, attrs, hidden)
        if tag in _SKIP:
            self.skipped(node, tag, attrs)
            return
        if not hidden and (mem in self.overlay_ids or ("style" in attrs and css.overlay_style(attrs["style"] or ""))):
            page.overlays.append(_describe(tag, attrs))
        if tag in ("h1", "h2", "h3") and not hidden:
            heading = normalise(node.text(deep=True))
            if heading:
                page.landmarks.add("h:" + heading[:100])
        lines = self.extra[1 if hidden else 0]
        if tag == "input" and (attrs.get("type") or "").lower() in _VALUE_INPUTS:
            lines.append(attrs.get("value") or attrs.get("placeholder") or "")
        elif tag == "textarea" and attrs.get("placeholder") and not node.text(deep=True).strip():
            lines.append(attrs.get("placeholder") or "")
        elif tag == "img" and not (attrs.get("src") or "").strip():
            lines.append(attrs.get("alt") or "")   # a browser paints alt text when there is no image
        lines += [text for _, text in self.generated.get(mem, ())]

    def text(self) -> None:
        """Visible and hidden text, one line per block (the tree is changed: read everything else first)."""
        tree = self.tree
        # Decided before the tree changes, so no freed element is touched: roots inside another root, and
        # roots that stripping removes (a hidden <script>, a hidden div inside <noscript>) are skipped.
        skip = {node.mem_id for node in _select(tree, (f"[{_MARK}] [{_MARK}]",
                                                       *(f"{tag} [{_MARK}]" for tag in _STRIP)))}
        skip |= {mem for mem, (_, tag) in self.roots.items() if tag in _STRIP}
        tree.strip_tags(_STRIP, recursive=True)
        hidden: list[str] = []
        for mem, (node, _) in self.roots.items():
            if mem not in skip:
                hidden += node.text(separator=_SEP).split(_SEP)
                node.decompose()
        for node in tree.css(_UNWRAP_SELECTOR):   # one query for all inline tags (unwrap_tags makes one each)
            node.unwrap()
        tree.merge_text_nodes()
        root = tree.root
        visible = root.text(separator=_SEP).split(_SEP) if root is not None else []
        for lines, found in zip(self.extra, (visible, hidden), strict=True):
            found += lines
        self.page.text = _lines(visible)
        self.page.hidden_text = _lines(hidden)
        self.page.display = _lines(visible, fold=False) + ["[hidden] " + t for t in _lines(hidden, fold=False)]

    def skipped(self, node: LexborNode, tag: str, attrs: dict[str, str | None]) -> None:
        """Elements whose content is not text: scripts, styles, the title (first one only)."""
        if tag == "script":
            src = (attrs.get("src") or "").strip()
            if src:
                self.page.links.append(Link("script", src, False))
            elif "json" not in (attrs.get("type") or "").lower():
                code = node.text(deep=True)
                if code.strip():
                    self.page.scripts.append(code)
        elif tag == "title" and not self.page.title:
            parent = node.parent
            if parent is None or parent.tag not in ("svg", "symbol", "g"):
                raw = node.text(deep=True)
                self.page.title = normalise(raw)
                self.page.display_title = " ".join(raw.split())[:300]

    def link(self, node: LexborNode, tag: str, attrs: dict[str, str | None], hidden: bool) -> None:
        page = self.page
        if tag == "meta":
            if (attrs.get("http-equiv") or "").lower() == "refresh":
                page.refresh.append(attrs.get("content") or "")
            return
        url = (attrs.get(_URL_ATTRS[tag]) or "").strip()
        if tag in ("iframe", "frame"):
            page.frames.append(Frame(url, hidden, _tiny(attrs)))
        if not url or tag == "script":
            return
        rel = (attrs.get("rel") or "").lower()
        found = Link(tag, url, hidden, "", rel)
        if tag == "a" and (hidden or url.startswith(_ABSOLUTE)):
            found.text = normalise(node.text(deep=True))[:200]
        elif tag == "img" and not hidden:
            page.landmarks.add("img:" + url.split("?", 1)[0])
        elif tag == "link" and "stylesheet" in rel:
            page.stylesheets.append(url)
        page.links.append(found)

    def finish(self) -> Page:
        page = self.page
        page.shingles = {a + ">" + b for a, b in zip(self.shape, self.shape[1:], strict=False)}
        return page


def _lines(pieces: list[str], fold: bool = True) -> list[str]:
    """`normalise` over many lines at once (one NFKC and one lower-casing for the whole text); with
    fold=False only the spacing is normalised (the display copy)."""
    text = _SEP.join(pieces)
    if fold:
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text)
        text = text.lower()
    return [" ".join(line.split()) for line in text.split(_SEP) if line and not line.isspace()]


def _describe(tag: str, attrs: dict[str, str | None]) -> str:
    """How an overlay is remembered: its tag, id and first class (not its text, which may rotate)."""
    ident = (attrs.get("id") or "")[:40]
    cls = (attrs.get("class") or "").split()
    return tag + (f"#{ident}" if ident else "") + (f".{cls[0][:40]}" if cls else "")


def parse(document: str, stylesheets: list[str] | None = None) -> Page:
    """Read a document (and the text of its linked stylesheets, when fetched) into a Page."""
    tree = _open(document)
    page = _Reader(tree, stylesheets or []).read()
    low = document.lower() if len(document) <= structure.MAX_BYTES else document   # large: not examined
    internal = sum(1 for link in page.links if link.tag == "a" and not link.url.startswith(_NOT_NAVIGATION))
    page.signals = structure.signals(document, low, page.text, page.tags, internal,
                                     any(frame.tiny or frame.hidden for frame in page.frames))
    return page
