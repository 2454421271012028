"""Remember what the reader read from a block of a page, keyed by a hash of the block's markup.

A watcher judges the same pages every few minutes, and a re-render differs from the last one in a few
places (a date, a visitor counter, the latest news, a CSRF token); the navigation, articles and footer
are byte for byte the same. The reader (reader.py) keys each block-level child of <body> by a SHA-256
digest of its serialised markup (Lexbor serialises in C) and reuses what it read from an identical
block: its shape, ids, links, scripts, comments and text. The reading of a block depends on its
markup alone, except for what the page's stylesheets do to it, so every element a stylesheet rule
matches (hidden, overlay, generated `content:`) carries a per-process attribute (`MARK`, a random
name a page cannot forge) before the digest, and a block holding one is read afresh every time.

Bounded: at most `MAX_ENTRIES` blocks and `MAX_CHARS` characters of remembered markup per process, the
least recently used forgotten first (a collector probing many sites keeps the blocks it keeps seeing);
a block larger than `MAX_BLOCK` is never remembered.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

from selectolax.lexbor import LexborNode

MAX_ENTRIES = 20_000
MAX_CHARS = 16_000_000
MAX_BLOCK = 1_000_000
MARK = "data-gw" + secrets.token_hex(6)
_MARKER = "\x1e" + secrets.token_hex(8) + ":"


class State(NamedTuple):
    """Lengths of the reader's lists at one point of the walk (a block's reading is the slice between two)."""

    shape: int
    marks: int
    links: int
    frames: int
    scripts: int
    refresh: int
    comments: int
    overlays: int
    stylesheets: int
    titles: int
    extra_visible: int
    extra_hidden: int
    hidden: int


@dataclass(slots=True)
class Pending:
    """A block walked now, remembered once its text is read."""

    node: LexborNode
    key: tuple[bytes, int]
    start: State
    end: State


@dataclass(frozen=True, slots=True)
class Entry:
    """What the reader read from one block (Link and Frame are frozen: pages share them)."""

    shape: list[str]
    shingles: frozenset[str]
    marks: list[str]
    links: list[Any]
    frames: list[Any]
    scripts: list[str]
    refresh: list[str]
    comments: list[str]
    overlays: list[str]
    stylesheets: list[str]
    titles: list[tuple[str, str]]
    extra_visible: list[str]
    extra_hidden: list[str]
    hidden: str
    visible: tuple[list[str], list[str]]   # (folded, display) lines


def key(node: LexborNode) -> tuple[bytes, int] | None:
    """(digest, size) of a block's markup; None when it is not to be remembered (too large, or a
    stylesheet rule matched something in it)."""
    markup = node.html or ""
    if len(markup) > MAX_BLOCK or MARK in markup:
        return None
    # SHA-256: collision resistant (a page must not pass for a remembered block), and the fastest such
    # hash here (SHA-NI: 0.07 ms per 100 KB against 0.11 ms for BLAKE2b)
    return hashlib.sha256(markup.encode("utf-8", "surrogatepass")).digest(), len(markup)


def marker(index: int) -> str:
    """The text a remembered block is replaced by until its text is put back (unforgeable per process)."""
    return f"{_MARKER}{index}\x1e"


class Cache:
    """Bounded, thread-safe map of block digests to readings; the least recently used goes first."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_chars: int = MAX_CHARS) -> None:
        self.max_entries, self.max_chars = max_entries, max_chars
        self.enabled = True   # False: every block is read afresh (benchmarks of the cold path)
        self._entries: dict[tuple[bytes, int], Entry] = {}
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, block: tuple[bytes, int]) -> Entry | None:
        """The remembered reading, moved to the young end (least recently used goes first)."""
        with self._lock:
            found = self._entries.pop(block, None)
            if found is None:
                self.misses += 1
                return None
            self._entries[block] = found
            self.hits += 1
            return found

    def put(self, block: tuple[bytes, int], entry: Entry) -> None:
        with self._lock:
            if block in self._entries:
                return
            self._entries[block] = entry
            self._chars += block[1]
            while self._entries and (len(self._entries) > self.max_entries or self._chars > self.max_chars):
                oldest = next(iter(self._entries))
                del self._entries[oldest]
                self._chars -= oldest[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)


class Memo:
    """A bounded memo of a pure string function (masking a line, fingerprinting a script): lines and
    scripts repeat from one render to the next. Forgets everything when full (O(1), never grows)."""

    def __init__(self, max_entries: int, max_key: int) -> None:
        self.max_entries, self.max_key = max_entries, max_key
        self._found: dict[str, str] = {}

    def get(self, text: str) -> str | None:
        return self._found.get(text)

    def getter(self) -> Any:
        """The lookup itself (a bound dict.get), for loops over many lines."""
        return self._found.get

    def put(self, text: str, value: str) -> None:
        if len(text) > self.max_key:
            return
        if len(self._found) >= self.max_entries:
            self._found = {}
        self._found[text] = value


SHARED = Cache()


def stats() -> dict[str, Any]:
    """Blocks remembered and reuse counts of this process's cache (for benchmarks and tests)."""
    return {"blocks": len(SHARED), "hits": SHARED.hits, "misses": SHARED.misses}
