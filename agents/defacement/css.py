"""What a page's own <style> hides: selectors of hiding rules, read into small element matchers.

Spam injectors hide their link blocks with the page's stylesheet as often as with inline styles, and not
only with a lone `.cls`: `div.x`, `#footer .links`, `.a > a`, `[class*=x]`. A selector's last compound
(its subject) is matched on each element's tag, classes, id and attributes; the compound before it, if
any, must contain the element (descendant and child are not told apart: close enough for hiding).
Selectors that only hide on interaction or conditionally (`:hover`, `:not(.show)`, inside `@media` with a
condition) are skipped: that is how menus, tabs and responsive layouts work, not how spam hides.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_COMPOUND_PART = re.compile(r"""\.([\w-]+)|#([\w-]+)|\[\s*([\w-]+)\s*(?:([~|^$*]?=)\s*(?:"([^"]*)"|'([^']*)'"""
                            r"""|([^\]\s]+))\s*(?:i\s*)?)?\]""")
_TAG_PART = re.compile(r"[a-z][a-z0-9-]*|\*")
_COMBINATOR = re.compile(r"\s*([>+~])\s*|\s+")
_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_MEDIA = re.compile(r"@media\b([^{]*)\{")
_PLAIN_MEDIA = re.compile(r"^\s*(?:only\s+)?(?:screen|all)?\s*$")
_NEVER_SUBJECT = {"html", "head", "body", "*", ""}
_COLOUR = re.compile(r"(?:^|;)(color|background(?:-color)?):(#[0-9a-f]{3,6}|rgb\([\d,]+\)|[a-z]+)")


@dataclass(frozen=True)
class Compound:
    """One compound selector (`div.a.b#c[href*=slot]`): every part must hold for an element."""

    tag: str = ""
    classes: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    attrs: tuple[tuple[str, str, str], ...] = ()

    @property
    def bare(self) -> bool:
        """Only a tag (or nothing): matches far too much on its own."""
        return not (self.classes or self.ids or self.attrs)

    def key(self) -> str:
        """A literal every matching start tag contains (the cheap first filter)."""
        if self.ids:
            return self.ids[0]
        if self.classes:
            return self.classes[0]
        for _name, op, value in self.attrs:
            if value and op:
                return value
        return "<" + self.tag

    def matches(self, tag: str, attrs: dict[str, str]) -> bool:
        if self.tag and self.tag != "*" and tag != self.tag:
            return False
        classes = attrs.get("class", "").split()
        if any(c not in classes for c in self.classes) or any(attrs.get("id") != i for i in self.ids):
            return False
        return all(_attr_holds(attrs.get(name), op, value) for name, op, value in self.attrs)


def _attr_holds(found: str | None, op: str, value: str) -> bool:
    if found is None:
        return False
    if not op:
        return True
    if op == "=":
        return found == value
    if op == "~=":
        return value in found.split()
    if op == "|=":
        return found == value or found.startswith(value + "-")
    if not value:
        return False
    return {"^=": found.startswith, "$=": found.endswith, "*=": found.__contains__}[op](value)


@dataclass(frozen=True)
class Selector:
    """A hiding selector: the element it hides, and the element that must contain it (or None)."""

    subject: Compound
    context: Compound | None = None


def compound(text: str) -> Compound | None:
    """Read one compound selector; None if it holds anything we do not model (pseudo-classes...)."""
    tag_match = _TAG_PART.match(text)
    tag = tag_match.group(0) if tag_match else ""
    pos = len(tag)
    classes: list[str] = []
    ids: list[str] = []
    attrs: list[tuple[str, str, str]] = []
    while pos < len(text):
        part = _COMPOUND_PART.match(text, pos)
        if part is None:
            return None
        cls, ident, name, op, dq, sq, bare = part.groups()
        if cls:
            classes.append(cls)
        elif ident:
            ids.append(ident)
        else:
            attrs.append((name, op or "", dq if dq is not None else sq if sq is not None else bare or ""))
        pos = part.end()
    if not (tag or classes or ids or attrs):
        return None
    return Compound(tag, tuple(classes), tuple(ids), tuple(attrs))


def selector(text: str) -> Selector | None:
    """Read a (lower-cased) selector into a Selector; None when it is unsupported or would match too much."""
    text = _COMMENT.sub("", text).strip()
    if not text or ":" in text or "@" in text or "%" in text:
        return None
    pieces = _COMBINATOR.split(text)
    names = pieces[0::2]   # compounds; pieces[1::2] are the combinators (None for a descendant space)
    joins = pieces[1::2]
    subject = compound(names[-1])
    if subject is None or subject.tag in _NEVER_SUBJECT and subject.bare:
        return None
    context = None
    if len(names) > 1 and joins[-1] not in ("+", "~"):
        context = compound(names[-2])
    if subject.bare and (context is None or context.bare):
        return None
    return Selector(subject, context)


def conditional_spans(css: str) -> list[tuple[int, int]]:
    """Spans of `@media` blocks that apply only sometimes (a width, print, orientation...)."""
    spans = []
    for media in _MEDIA.finditer(css):
        if _PLAIN_MEDIA.match(media.group(1)):
            continue
        depth, pos = 1, media.end()
        while depth and pos < len(css):
            brace = re.compile(r"[{}]").search(css, pos)
            if brace is None:
                pos = len(css)
                break
            depth += 1 if brace.group(0) == "{" else -1
            pos = brace.end()
        spans.append((media.start(), pos))
    return spans


def inside_any(spans: list[tuple[int, int]], pos: int) -> bool:
    return any(begin <= pos < end for begin, end in spans)


_START_TAG = re.compile(r"<([a-z][a-z0-9]*)\b((?:[^>\"']+|\"[^\"]*\"|'[^']*')*)>")
_ABSOLUTE_LINK = re.compile(r"<a\b[^>]*?\shref\s*=\s*[\"']?(?:https?:)?//")
_SPAM_WORDS = re.compile(r"slot\s?(?:gacor|online|88|777|maxwin|resmi)|judi\b|togel|casino|kasino|poker|gacor"
                         r"|viagra|cialis|betting|baccarat|sbobet|payday"
                         r"|สล็อต|คาสิโน|บาคาร่า|พนัน|nhà cái|cá cược|កាស៊ីណូ|ភ្នាល់|カジノ|スーパーコピー")
MIN_LINKS = 2

Attributes = Callable[[str], dict[str, str]]
ElementEnd = Callable[[str, int, str], int]


def _elements(doc: str, comp: Compound, attributes: Attributes, element_end: ElementEnd,
              void: set[str]) -> list[tuple[int, int]]:
    """Spans of the elements of `doc` a compound selector matches (a literal search, then a real check)."""
    spans: list[tuple[int, int]] = []
    key = comp.key()
    pos = doc.find(key)
    seen = -1
    while pos >= 0:
        begin = pos if key.startswith("<") else doc.rfind("<", 0, pos)
        tag = _START_TAG.match(doc, begin) if begin > seen else None
        if tag is not None and tag.end() > pos and comp.matches(tag.group(1), attributes(tag.group(2))):
            name = tag.group(1)
            spans.append((begin, tag.end() if name in void else element_end(doc, tag.end(), name)))
            seen = begin
        pos = doc.find(key, pos + len(key))
    return spans


def _worth_hiding(doc: str, spans: list[tuple[int, int]]) -> bool:
    """Hidden elements are kept when they hold what spam hides: outside links or gambling/pharma words.

    A compound selector is read approximately (ancestors beyond one level are ignored), so what it
    hides counts only when it matters to the detector; a hidden menu or tab pane stays visible text.
    """
    links = 0
    for begin, end in spans:
        links += len(_ABSOLUTE_LINK.findall(doc, begin, end))
        if links >= MIN_LINKS or _SPAM_WORDS.search(doc, begin, end):
            return True
    return False


def hidden_spans(doc: str, selectors: tuple[Selector, ...], attributes: Attributes, element_end: ElementEnd,
                 void: set[str]) -> list[tuple[int, int]]:
    """Spans of the elements the compound hiding selectors hide, for those worth counting as hidden."""
    out: list[tuple[int, int]] = []
    contexts: dict[Compound, list[tuple[int, int]]] = {}
    for sel in selectors:
        around: list[tuple[int, int]] = []
        if sel.context is not None:   # the container first: usually rarer, and without it nothing is hidden
            if sel.context not in contexts:
                contexts[sel.context] = _elements(doc, sel.context, attributes, element_end, void)
            around = contexts[sel.context]
            if not around:
                continue
        spans = _elements(doc, sel.subject, attributes, element_end, void)
        if around:
            spans = [s for s in spans if any(b < s[0] < e for b, e in around)]
        if spans and _worth_hiding(doc, spans):
            out += spans
    return out


def same_colour(compact: str) -> bool:
    """Text painted in its own background colour (`color:#fff;background:#fff`)."""
    colours: dict[str, str] = {}
    for prop, value in _COLOUR.findall(compact):
        if len(value) == 4 and value[0] == "#":
            value = "#" + "".join(ch * 2 for ch in value[1:])
        colours.setdefault("color" if prop == "color" else "background", value)
    return len(colours) == 2 and colours["color"] == colours["background"] and colours["color"] != "transparent"
