"""Read a parsed tree into a Page: one Python pass over the elements, then Lexbor (C) for the text.

The pass gathers everything the sensors need (shape, ids, links, scripts, comments, painted attribute
text) and, on the way, which subtrees are hidden and which are never painted: a hidden or unpainted
element is known when the walk enters it, and the walk leaves it at the first node after its subtree
(`_after`), so no selector has to find descendants (`[x] *` made Lexbor test every element's ancestors:
1.4 ms on a dense page). Then hidden subtrees are read and cut out, what is never painted (scripts,
styles, <noscript>, <template>, SVG titles) is cut out, the inline elements the pass gathered are
unwrapped and adjacent text merged, so Lexbor's own text serialisation yields one line per block, as a
browser lays it out.

Unchanged blocks cost next to nothing (`blocks.py`): each block-level child of <body> is keyed by a hash
of its serialised markup, and what the walk and the text read from it is remembered, so a re-render
that differs from the last one in a date, a counter and a news list walks only those blocks. Every
sensor still sees the whole page: only the reading of an identical block is reused.
"""

from __future__ import annotations

from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from govwatch.agents.defacement import blocks, css
from govwatch.agents.defacement.page import (
    _INLINE,
    _SEP,
    _SKIP,
    _SPECIAL,
    _STRIP_SET,
    _UNWRAP,
    _URL_ATTRS,
    _VALUE_INPUTS,
    MAX_COMMENTS,
    Frame,
    Link,
    Page,
    _describe,
    _lines,
    _tiny,
    normalise,
)

_ABSOLUTE = ("http", "//")
Lines = tuple[list[str], list[str]]   # (folded, display)
_NOT_BLOCKS = _INLINE | _STRIP_SET   # inline children merge with their neighbours' text; unpainted ones are cut


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


def _after(node: LexborNode | None) -> int:
    """mem_id of the first node the walk (elements and comments) visits after this node's subtree; 0 when
    none does. Disjoint subtrees climb through disjoint ancestors, so all calls of one walk are linear."""
    while node is not None:
        sibling = node.next
        while sibling is not None:
            if not sibling.is_text_node:
                return sibling.mem_id
            sibling = sibling.next
        node = node.parent
    return 0


class Reader:
    """One page's reading (see the module docstring); `read()` once, it changes the tree."""

    def __init__(self, tree: LexborHTMLParser, extra_css: list[str], cache: blocks.Cache | None = None) -> None:
        self.page = Page()
        self.tree = tree
        self.cache = cache
        sheets = [css.read(node.text(deep=True)) for node in tree.css("style")]
        sheets += [css.read(text) for text in extra_css]
        sheet = css.merge(sheets)
        matched = _select(tree, sheet.hiding)
        self.sheet_hidden = {node.mem_id for node in matched}
        overlays = _select(tree, sheet.overlays)
        self.overlay_ids = {node.mem_id for node in overlays}
        self.generated: dict[int, list[tuple[str, str]]] = {}
        for selector, where, text in sheet.content:
            found = _select(tree, (selector,))[:200]
            overlays += found
            for node in found:
                self.generated.setdefault(node.mem_id, []).append((where, text))
        if cache is not None:
            for node in matched + overlays:   # what a stylesheet does to an element is not in its markup
                node.attrs[blocks.MARK] = ""
        self.marked = bool(self.generated or self.overlay_ids)   # every element's identity is asked
        self.extra: tuple[list[str], list[str]] = ([], [])   # painted text that is not a text node
        self.shape: list[str] = []            # tag.class of each element, "" where a remembered block's inside is
        self.shingles: list[frozenset[str]] = []   # the inside pairs of remembered blocks
        self.tags = 0                          # elements not in `shape` (inside remembered blocks) less the ""
        self.marks: list[str] = []             # landmarks, in walk order
        self.titles: list[tuple[str, str]] = []
        self.hidden: list[Any] = []            # outermost hidden subtrees (read later) or their text
        self.unpainted: list[LexborNode] = []  # outermost never-painted subtrees
        self.inline: list[LexborNode] = []     # painted inline elements, to unwrap
        self.capped = False                    # the comment limit was reached during the current walk
        self.reused: dict[str, Lines] = {}     # marker -> visible lines of a block read whole
        self.fresh: list[blocks.Pending] = []  # blocks walked now, to remember once their text is read

    def read(self) -> Page:
        root = self.tree.root
        if root is None:
            return self.page
        body = self.tree.body
        parent = body.parent if body is not None else None
        if self.cache is None or body is None or parent is None or parent.mem_id != root.mem_id or self.hides(
                body, "body", body.attributes):
            self.walk(root.traverse(include_text=False))
        else:
            self.walk((root,))
            child, body_id = root.first_child, body.mem_id
            while child is not None:
                if child.mem_id == body_id:
                    self.walk((body,))
                    self.blocks(body)
                elif not child.is_text_node:
                    self.walk(child.traverse(include_text=False))
                child = child.next
        self.text()
        return self.finish()

    def blocks(self, body: LexborNode) -> None:
        """Walk <body>'s children, reusing what an identical block read before."""
        child = body.first_child
        while child is not None:
            node, child = child, child.next
            if node.is_text_node:
                continue
            key = blocks.key(node) if node.tag not in _NOT_BLOCKS and node.is_element_node else None
            if key is None or self.hides(node, node.tag or "", node.attributes):
                self.walk(node.traverse(include_text=False))
                continue
            entry = self.cache.get(key) if self.cache is not None else None
            if entry is not None:
                self.reuse(node, entry)
                continue
            start = self.state()
            self.capped = False
            self.walk(node.traverse(include_text=False))
            if not self.capped:
                self.fresh.append(blocks.Pending(node, key, start, self.state()))

    def state(self) -> blocks.State:
        page = self.page
        return blocks.State(len(self.shape), len(self.marks), len(page.links), len(page.frames),
                            len(page.scripts), len(page.refresh), len(page.comments), len(page.overlays),
                            len(page.stylesheets), len(self.titles), len(self.extra[0]), len(self.extra[1]),
                            len(self.hidden))

    def reuse(self, node: LexborNode, entry: blocks.Entry) -> None:
        """Add a remembered block's reading where the walk would have produced it."""
        page = self.page
        shape = entry.shape
        if len(shape) > 2:   # its first and last shape join the walk's; the pairs inside are remembered
            self.shape += (shape[0], "", shape[-1])
            self.shingles.append(entry.shingles)
            self.tags += len(shape) - 3
        else:
            self.shape += shape
        self.marks += entry.marks
        page.links += entry.links
        page.frames += entry.frames
        page.scripts += entry.scripts
        page.refresh += entry.refresh
        room = MAX_COMMENTS - len(page.comments)
        page.comments += entry.comments[:max(0, room)]
        page.overlays += entry.overlays
        page.stylesheets += entry.stylesheets
        self.titles += entry.titles
        self.extra[0].extend(entry.extra_visible)
        self.extra[1].extend(entry.extra_hidden)
        if entry.hidden:
            self.hidden.append(entry.hidden)
        marker = blocks.marker(len(self.reused))
        self.reused[marker] = entry.visible
        node.replace_with(_SEP + marker + _SEP)   # its text comes back from the cache, in place

    def walk(self, nodes: Any) -> None:
        """The element pass over `nodes` (a subtree's traversal, or one element alone)."""
        hidden_end: list[int] = []    # where each hidden subtree the walk is inside ends (innermost last)
        unpainted_end: list[int] = []
        shape, inline, marks, sheet_hidden = self.shape, self.inline, self.marks, self.sheet_hidden
        for node in nodes:
            tag = node.tag
            if hidden_end or unpainted_end:
                mem = node.mem_id
                while hidden_end and hidden_end[-1] == mem:
                    hidden_end.pop()
                while unpainted_end and unpainted_end[-1] == mem:
                    unpainted_end.pop()
            if not tag or tag[0] == "-":
                if tag == "-comment":
                    self.comment(node)
                continue
            attrs = node.attributes
            cls = attrs.get("class") if attrs else None
            first = cls.split(None, 1) if cls else None
            shape.append(tag + "." + first[0].lower() if first else tag)
            ident = attrs.get("id")
            if ident and len(ident) < 60 and len(ident.split()) == 1:
                marks.append("id:" + ident.lower())
            if tag not in _SPECIAL and "style" not in attrs and "hidden" not in attrs and not self.marked and (
                    not sheet_hidden or node.mem_id not in sheet_hidden):
                # most elements: nothing else to read (and their identity is not asked: it costs)
                if tag in _UNWRAP and not hidden_end and not unpainted_end:
                    inline.append(node)
                continue
            hidden = bool(hidden_end) or self.hides(node, tag, attrs)
            if hidden and not hidden_end:
                if not unpainted_end and tag not in _STRIP_SET:
                    self.hidden.append(node)
                hidden_end.append(_after(node))
            if tag in _STRIP_SET and not unpainted_end:
                self.unpainted.append(node)
                unpainted_end.append(_after(node))
            elif tag in _UNWRAP and not hidden and not unpainted_end:
                inline.append(node)
            self.element(node, tag, attrs, hidden)

    def hides(self, node: LexborNode, tag: str, attrs: dict[str, str | None]) -> bool:
        """The element hides itself and what it holds (hidden attribute, closed dialog, a hiding style)."""
        if tag == "html":
            return False
        if "hidden" in attrs or (tag == "dialog" and "open" not in attrs):
            return True
        if "style" in attrs and css.hiding_style(attrs["style"] or ""):
            return True
        return bool(self.sheet_hidden) and node.mem_id in self.sheet_hidden   # matched by a stylesheet rule

    def comment(self, node: LexborNode) -> None:
        if len(self.page.comments) >= MAX_COMMENTS:
            self.capped = True
            return
        text = normalise(node.comment_content or "")
        if text:
            self.page.comments.append(text[:2000])

    def element(self, node: LexborNode, tag: str, attrs: dict[str, str | None], hidden: bool) -> None:
        """Read what one element paints besides its text nodes, its links, headings and overlays."""
        mem = node.mem_id if self.marked else 0
        if tag in _URL_ATTRS or tag == "meta":
            self.link(node, tag, attrs, hidden)
        if tag in _SKIP:
            self.skipped(node, tag, attrs)
            return
        if not hidden and (mem in self.overlay_ids or ("style" in attrs and css.overlay_style(attrs["style"] or ""))):
            self.page.overlays.append(_describe(tag, attrs))
        if tag in ("h1", "h2", "h3") and not hidden:
            heading = normalise(node.text(deep=True))
            if heading:
                self.marks.append("h:" + heading[:100])
        lines = self.extra[1 if hidden else 0]
        if tag == "input" and (attrs.get("type") or "").lower() in _VALUE_INPUTS:
            lines.append(attrs.get("value") or attrs.get("placeholder") or "")
        elif tag == "textarea" and attrs.get("placeholder") and not node.text(deep=True).strip():
            lines.append(attrs.get("placeholder") or "")
        elif tag == "img" and not (attrs.get("src") or "").strip():
            lines.append(attrs.get("alt") or "")   # a browser paints alt text when there is no image
        if mem in self.generated:
            lines += [text for _, text in self.generated[mem]]

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
        elif tag == "title":
            parent = node.parent
            if parent is None or parent.tag not in ("svg", "symbol", "g"):
                raw = node.text(deep=True)
                self.titles.append((normalise(raw), " ".join(raw.split())[:300]))

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
        text = ""
        if tag == "a" and (hidden or url.startswith(_ABSOLUTE)):
            text = normalise(node.text(deep=True))[:200]
        elif tag == "img" and not hidden:
            self.marks.append("img:" + url.split("?", 1)[0])
        elif tag == "link" and "stylesheet" in rel:
            page.stylesheets.append(url)
        page.links.append(Link(tag, url, hidden, text, rel))

    def text(self) -> None:
        """Visible and hidden text, one line per block (the tree is changed: read everything else first).

        Only nodes the walk recorded are touched, in an order where none was freed before: unpainted
        subtrees first (they may hold hidden ones the walk did not record), then hidden subtrees outside
        them, then the painted inline elements outside both; blocks walked now are read, remembered and
        replaced by a marker like the reused ones, and the rest of the page is read around the markers."""
        for node in self.unpainted:
            node.decompose()
        hidden = self.hidden
        for index, item in enumerate(hidden):
            if not isinstance(item, str):
                hidden[index] = item.text(separator=_SEP)
                item.decompose()
        for node in self.inline:
            node.unwrap()
        tree = self.tree
        tree.merge_text_nodes()
        for pending in self.fresh:
            lines = _lines([pending.node.text(separator=_SEP)])
            self.remember(pending, lines)
            marker = blocks.marker(len(self.reused))
            self.reused[marker] = lines
            pending.node.replace_with(_SEP + marker + _SEP)
        root = tree.root
        pieces = root.text(separator=_SEP).split(_SEP) if root is not None else []
        self.page.text, shown = self.compose(pieces + self.extra[0])
        self.page.hidden_text, unseen = _lines(hidden + self.extra[1])
        self.page.display = shown + ["[hidden] " + t for t in unseen]

    def compose(self, pieces: list[str]) -> Lines:
        """`_lines` of the pieces, a marker standing for its block's lines (lines never span pieces)."""
        if not self.reused:
            return _lines(pieces)
        folded: list[str] = []
        display: list[str] = []
        run: list[str] = []
        for piece in pieces:
            lines = self.reused.get(piece)
            if lines is None:
                run.append(piece)
                continue
            if run:
                more = _lines(run)
                folded += more[0]
                display += more[1]
                run = []
            folded += lines[0]
            display += lines[1]
        more = _lines(run)
        return folded + more[0], display + more[1]

    def remember(self, pending: blocks.Pending, visible: Lines) -> None:
        """Store what the walk read from one block (its slice of every list) under the block's key."""
        a, b, page = pending.start, pending.end, self.page
        if self.cache is None:
            return
        shape = self.shape[a.shape:b.shape]
        self.cache.put(pending.key, blocks.Entry(
            shape=shape, shingles=frozenset(_pairs(shape)), marks=self.marks[a.marks:b.marks],
            links=page.links[a.links:b.links], frames=page.frames[a.frames:b.frames],
            scripts=page.scripts[a.scripts:b.scripts], refresh=page.refresh[a.refresh:b.refresh],
            comments=page.comments[a.comments:b.comments], overlays=page.overlays[a.overlays:b.overlays],
            stylesheets=page.stylesheets[a.stylesheets:b.stylesheets], titles=self.titles[a.titles:b.titles],
            extra_visible=self.extra[0][a.extra_visible:b.extra_visible],
            extra_hidden=self.extra[1][a.extra_hidden:b.extra_hidden],
            hidden=_SEP.join(self.hidden[a.hidden:b.hidden]), visible=visible))

    def finish(self) -> Page:
        page = self.page
        page.tags = len(self.shape) + self.tags
        page.landmarks = set(self.marks)
        page.title, page.display_title = next(((t, d) for t, d in self.titles if t), ("", ""))
        page.shingles = set(_pairs(self.shape)).union(*self.shingles)
        return page


def _pairs(shape: list[str]) -> list[str]:
    """Layout shingles: each element's shape with the next one's ("" stands between two that are not
    next to each other)."""
    return [a + ">" + b for a, b in zip(shape, shape[1:], strict=False) if a and b]
