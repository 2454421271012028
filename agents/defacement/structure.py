"""How a page is built, read without any profile: the marks of a defacer's stand-alone page.

A first-sight check has no known-good page to compare with, and a defacer does not always sign with
words a rule knows ("hacked by" in a language we lack, a bare image and a song). What their pages share
is the build: a tiny stand-alone page (no site navigation), a black background, a marquee, music that
plays by itself, one big centred heading, a greetings/contact list; or a page that writes itself with
an obfuscated `document.write(unescape(...))`; or a spam template whose `{{ BRAND }}` placeholders were
never filled in. Each mark alone is common enough on real sites; together on a tiny page they are not.
Only small pages are examined (cost: a few searches over at most `MAX_BYTES`).
"""

from __future__ import annotations

import re

MAX_BYTES = 60_000
SMALL_TAGS = 250
SMALL_TEXT = 60
_DARK = re.compile(r"background(?:-color)?\s*:[^;}\"']*?(?:#[01]{3}\b|#(?:[01][0-9a-f]){3}\b|black\b"
                   r"|rgba?\(\s*(?:[0-2]?\d\s*,\s*){2}[0-2]?\d\b)|bgcolor\s*=\s*[\"']?(?:black|#[01]{3}\b|#(?:[01][0-9a-f]){3}\b)")
_MARQUEE = re.compile(r"<marquee\b|\bmarquee\s*\(")
_SOUND = re.compile(r"<audio\b|<bgsound\b|\bautoplay\b|\.(?:mp3|wav|ogg|m4a|opus)\b|new\s+audio\s*\("
                    r"|\.play\s*\(\s*\)|soundcloud\.com")
_PICTURE = re.compile(r"<img\b|background(?:-image)?\s*:[^;}]*url\(")
_CENTRED = re.compile(r"<center\b|text-align\s*:\s*center|align\s*=\s*[\"']?center")
_SELF_WRITE = re.compile(r"document\.write(?:ln)?\s*\(\s*(?:unescape|atob|decodeuricomponent|string\.fromcharcode"
                         r"|window\.atob|escape)\s*\(|eval\s*\(\s*(?:unescape|atob|function\s*\(\s*p\s*,\s*a)")
_PLACEHOLDER = re.compile(r"\{\{\s*[A-Z][A-Z0-9_]{2,}\s*\}\}")
_GREETINGS = re.compile(r"\b(?:gre+tz|gre+ts|greetings?\s+(?:to|for)\b|thanks?\s+to\s*:|special\s+thanks|"
                        r"contact\s+me\b|t\.me/|telegram\s*:|wa\.me/|zone-h|salam\s+dari|"
                        r"(?:fb|ig|instagram|telegram)\s*:\s*@)", re.I)
_CREW = re.compile(r"\b(?:team|crew|squad|army|cyber|hacker|xploit|exploit|sec(?:urity)?\s*team|anon\w*|"
                   r"ghost|1337|l33t|mr\.|ms\.|\w+_?sec\b)", re.I)


def signals(original: str, low: str, text: list[str], tags: int, internal_links: int,
            hidden_frame: bool = False) -> set[str]:
    """The structural marks a stand-alone defacement page shows (empty for an ordinary large page)."""
    found: set[str] = set()
    if "{{" in original and len(_PLACEHOLDER.findall(original, 0, 400_000)) >= 3:
        found.add("placeholders")
    if len(low) > MAX_BYTES:
        return found
    if _SELF_WRITE.search(low) and len(text) <= 5:
        found.add("self_writing")
    if tags > SMALL_TAGS or len(text) > SMALL_TEXT or internal_links > 3:
        return found
    found.add("standalone")
    for name, pattern in (("dark", _DARK), ("marquee", _MARQUEE), ("sound", _SOUND), ("centred", _CENTRED)):
        if pattern.search(low):
            found.add(name)
    if hidden_frame:
        found.add("tiny_frame")
    if not text and _PICTURE.search(low):
        found.add("picture_only")
    joined = "\n".join(text)
    if _GREETINGS.search(joined):
        found.add("greetings")
    if _CREW.search(joined):
        found.add("crew")
    return found


POINTS = {"dark": 1.0, "marquee": 1.0, "sound": 1.0, "greetings": 1.0, "centred": 0.5, "crew": 0.5,
          "tiny_frame": 0.5, "picture_only": 0.5}
NAMES = {"dark": "black background", "marquee": "marquee", "sound": "music/sound", "tiny_frame": "tiny or hidden frame",
         "greetings": "greetings/contact list", "centred": "centred layout", "crew": "crew-style names",
         "picture_only": "a picture and next to no text"}


STRONG = {"marquee", "sound", "greetings", "crew", "tiny_frame"}


def standalone_score(found: set[str]) -> tuple[float, list[str]]:
    """(points, what was seen) for a stand-alone page; 0 when the page is not stand-alone or shows only
    marks a plain splash or maintenance page has too (dark, centred, a picture)."""
    if "standalone" not in found or not found & STRONG:
        return 0.0, []
    marks = sorted((m for m in found if m in POINTS), key=lambda m: -POINTS[m])
    return sum(POINTS[m] for m in marks), [NAMES[m] for m in marks]
