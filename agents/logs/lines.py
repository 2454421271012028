"""Bytes to bounded text lines: a line longer than `max_line` is cut, counted and its rest skipped.

Chunks are split at their last newline before decoding, so a multi-byte character is never cut in two;
undecodable bytes become U+FFFD (a log is text written by a web server, not trusted input).
"""

from __future__ import annotations

from collections.abc import Callable


class LineSplitter:
    """Feed chunks; complete lines go to `on_line`, over-long ones to `on_long` (their first bytes)."""

    def __init__(self, max_line: int, on_line: Callable[[str], None], on_long: Callable[[str], None]) -> None:
        self.max_line = max_line
        self.on_line, self.on_long = on_line, on_long
        self.pending = b""
        self.skipping = False

    def feed(self, data: bytes) -> None:
        cut = data.rfind(b"\n")
        if cut < 0:
            self._hold(data)
            return
        head, self.pending = self.pending + data[:cut], b""
        if self.skipping:
            first = head.find(b"\n")
            self.skipping = False
            if first < 0:
                self._hold(data[cut + 1:])
                return
            head = head[first + 1:]
        on_line, limit = self.on_line, self.max_line
        for line in head.decode("utf-8", "replace").split("\n"):
            if len(line) > limit:
                self.on_long(line[:200])
            elif line:
                on_line(line.rstrip("\r"))
        self._hold(data[cut + 1:])

    def _hold(self, rest: bytes) -> None:
        if self.skipping:
            return
        self.pending += rest
        if len(self.pending) > self.max_line:
            self.on_long(self.pending[:200].decode("utf-8", "replace"))
            self.pending = b""
            self.skipping = True

    def flush(self) -> None:
        """End of a file that does not end in a newline: its last line is complete."""
        if self.pending and not self.skipping:
            line = self.pending.decode("utf-8", "replace")
            if len(line) <= self.max_line:
                self.on_line(line.rstrip("\r"))
        self.pending = b""
        self.skipping = False
