"""Stylesheets as the browser applies them: which elements a page's CSS hides, paints over the viewport,
or writes text into (`::before`/`::after { content: ... }`).

Read with tinycss2 (a CSS Syntax Level 3 tokenizer, linear time) and matched with the HTML parser's own
selector engine (Lexbor, in C), so `:not()`, attribute selectors and combinators mean what they mean in a
browser. Not the full cascade: a hiding rule counts when it applies at rest (no `:hover`/`:focus`, not
inside a conditional `@media`); a later rule that shows the element again is not weighed. Spam hides
with plain rules, and what the detector misreads this way is a legitimate hidden menu read as hidden
text, which raises nothing on its own (hidden *links to other sites* do, and the profile knows its own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import tinycss2

MAX_CSS_CHARS = 1_000_000          # per stylesheet: a 1 MB framework bundle is read, a 50 MB one is cut
MAX_RULES = 20_000                 # per stylesheet
MAX_SELECTORS = 400                # hiding/overlay/content selectors matched per page
_HIDING = re.compile(
    r"display:none|visibility:(?:hidden|collapse)|font-size:0(?![.\d]*[1-9])|opacity:0(?![.\d]*[1-9])"
    r"|font-size:(?:0?\.\d+|1)(?:px|pt)(?:;|!|$)"
    r"|(?:^|;)(?:left|top|right|bottom|text-indent|margin-left|margin-top):-[1-9]\d{2,}"
    r"|translate(?:x|y|3d)?\(-[1-9]\d{3,}|clip:rect\(0|clip-path:(?:inset\((?:50|100)%|circle\(0)"
    r"|transform:scale\(0\)|(?:^|;)(?:max-)?(?:height|width):[01](?:px)?(?:;|!|$)")
_OVERFLOW_HIDDEN = re.compile(r"(?:^|;)overflow(?:-[xy])?:hidden")
_ZERO_BOX = re.compile(r"(?:^|;)(?:max-)?(?:height|width):[01](?:px)?(?:;|!|$)")
_COLOUR = re.compile(r"(?:^|;)(color|background(?:-color)?):(#[0-9a-f]{3,6}|rgb\([\d,]+\)|[a-z]+)")
_POSITIONED = re.compile(r"(?:^|;)position:(?:fixed|absolute)")
_FULL = re.compile(r"^(?:100|9\d)(?:\.\d+)?(?:%|vw|vh)|^(?:[2-9]\d{3}|1\d{4})px")
_PLAIN_MEDIA = re.compile(r"^\s*(?:only\s+)?(?:screen|all)?\s*$", re.I)
_AT_REST = ("hover", "focus", "active", "checked", "target", "visited", "focus-within", "focus-visible")
_NEVER_SUBJECT = {"html", "head", "body", "*", ":root"}
_PSEUDO_CONTENT = re.compile(r"::?(before|after)\s*$", re.I)


@dataclass(frozen=True)
class Sheet:
    """What one stylesheet does that the detector cares about (selectors as text, for the matcher)."""

    hiding: tuple[str, ...] = ()
    overlays: tuple[str, ...] = ()
    content: tuple[tuple[str, str, str], ...] = ()   # (selector, "before"|"after", text)


def compact(style: str) -> str:
    """A declaration block as `prop:value;...`: lower case, no spaces (how the patterns read it)."""
    return style.replace(" ", "").replace("\n", "").replace("\t", "").replace("\r", "").lower()


def hiding_style(style: str) -> bool:
    """True if a style (inline or a rule body) keeps the element from a visitor's eyes."""
    flat = compact(style)
    if _HIDING.search(flat):
        if _ZERO_BOX.search(flat) and not _HIDING.search(_ZERO_BOX.sub(";", flat)):
            return bool(_OVERFLOW_HIDDEN.search(flat))   # a 0-height box hides only with overflow:hidden
        return True
    return "background" in flat and same_colour(flat)


def overlay_style(style: str) -> bool:
    """True if a style places an element over (nearly) the whole viewport: fixed/absolute and full size."""
    flat = compact(style)
    if not _POSITIONED.search(flat) or "display:none" in flat:
        return False
    props = dict(part.split(":", 1) for part in flat.split(";") if ":" in part)
    if props.get("inset", "").startswith("0"):
        return True
    wide = _FULL.match(props.get("width", "")) or _FULL.match(props.get("min-width", "")) or (
        props.get("left", "").startswith("0") and props.get("right", "").startswith("0"))
    high = _FULL.match(props.get("height", "")) or _FULL.match(props.get("min-height", "")) or (
        props.get("top", "").startswith("0") and props.get("bottom", "").startswith("0"))
    return bool(wide and high)


def same_colour(flat: str) -> bool:
    """Text painted in its own background colour (`color:#fff;background:#fff`)."""
    colours: dict[str, str] = {}
    for prop, value in _COLOUR.findall(flat):
        if len(value) == 4 and value[0] == "#":
            value = "#" + "".join(ch * 2 for ch in value[1:])
        colours.setdefault("color" if prop == "color" else "background", value)
    return len(colours) == 2 and colours["color"] == colours["background"] and colours["color"] != "transparent"


def _declarations(block: list) -> tuple[str, str]:
    """(compact declarations, generated `content:` text) of one rule body."""
    parts, content = [], ""
    for decl in tinycss2.parse_declaration_list(block, skip_comments=True, skip_whitespace=True):
        if decl.type != "declaration":
            continue
        value = tinycss2.serialize(decl.value)
        parts.append(f"{decl.lower_name}:{value}{'!important' if decl.important else ''}")
        if decl.lower_name == "content":
            content = " ".join(tok.value for tok in decl.value if tok.type == "string")
    return compact(";".join(parts)), content


def _usable(selector: str) -> str | None:
    """The selector when it applies at rest to something narrower than the whole page."""
    text = selector.strip()
    low = text.lower()
    if not text or any(":" + name in low for name in _AT_REST) or low in _NEVER_SUBJECT:
        return None
    return text


def _rules(nodes: list, out: dict[str, list], budget: list[int]) -> None:
    for node in nodes:
        budget[0] -= 1
        if budget[0] < 0:
            return
        if node.type == "at-rule" and node.content is not None:
            name, prelude = node.lower_at_keyword, tinycss2.serialize(node.prelude)
            if name in ("supports", "layer", "document") or (name == "media" and _PLAIN_MEDIA.match(prelude)):
                _rules(tinycss2.parse_rule_list(node.content, skip_comments=True, skip_whitespace=True), out,
                       budget)
            continue
        if node.type != "qualified-rule":
            continue
        flat, content = _declarations(node.content)
        for raw in tinycss2.serialize(node.prelude).split(","):
            pseudo = _PSEUDO_CONTENT.search(raw)
            if pseudo:
                base = _usable(raw[:pseudo.start()]) or ("*" if not raw[:pseudo.start()].strip() else None)
                if base and content.strip() and "display:none" not in flat:
                    out["content"].append((base, pseudo.group(1).lower(), content))
                continue
            if "::" in raw or (selector := _usable(raw)) is None:
                continue
            if hiding_style(flat):
                out["hiding"].append(selector)
            elif overlay_style(flat):
                out["overlays"].append(selector)


@lru_cache(maxsize=128)
def read(css: str) -> Sheet:
    """Read one stylesheet (remembered: a site serves the same CSS on every fetch)."""
    out: dict[str, list] = {"hiding": [], "overlays": [], "content": []}
    nodes = tinycss2.parse_stylesheet(css[:MAX_CSS_CHARS], skip_comments=True, skip_whitespace=True)
    _rules(nodes, out, [MAX_RULES])
    return Sheet(tuple(dict.fromkeys(out["hiding"])), tuple(dict.fromkeys(out["overlays"])),
                 tuple(dict.fromkeys(out["content"])))


def merge(sheets: list[Sheet]) -> Sheet:
    """All of a page's stylesheets as one (document order kept, duplicates dropped, counts bounded)."""
    hiding = tuple(dict.fromkeys(s for sheet in sheets for s in sheet.hiding))[:MAX_SELECTORS]
    overlays = tuple(dict.fromkeys(s for sheet in sheets for s in sheet.overlays))[:MAX_SELECTORS]
    content = tuple(dict.fromkeys(c for sheet in sheets for c in sheet.content))[:MAX_SELECTORS]
    return Sheet(hiding, overlays, content)
