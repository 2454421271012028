"""Fixtures for the FIM tests: a web root, a running watcher with a queue as its emit, a thread-leak guard."""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest

from govwatch.agents.fim.watcher import SCHEMA, FimWatcher
from govwatch.events import Event
from govwatch.schema import validate

RULES = os.path.join(os.path.dirname(__file__), "..", "..", "rules", "fim")



class Harness:
    """A started watcher over `root` whose events land in a queue; helpers wait with timeouts."""

    def __init__(self, root: str, data_dir: str, **options: Any) -> None:
        section = validate({"paths": [root], "rules": RULES, **options}, SCHEMA, "agent.yml")
        self.events: queue.Queue[Event] = queue.Queue()
        self.watcher = FimWatcher(section, {"data_dir": data_dir, "name": "test"})
        self.watcher.start(self.events.put)
        assert self.watcher.ready.wait(10), "baseline never became ready"

    def fim(self, count: int, timeout: float = 5.0) -> list[Event]:
        """Exactly the next `count` fim events (fails on timeout)."""
        out: list[Event] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(e.data["change"], e.data["path"]) for e in out]
                pytest.fail(f"got {len(out)} of {count} fim events: {seen}")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event.kind == "fim":
                out.append(event)
        return out

    def quiet(self, seconds: float = 1.5, kinds: tuple[str, ...] = ("fim",)) -> list[Event]:
        """Events arriving in the next `seconds` (used to prove nothing more came)."""
        out = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                out.append(self.events.get(timeout=remaining))
            except queue.Empty:
                break
        return [e for e in out if e.kind in kinds]

    def status(self, timeout: float = 5.0) -> Event:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                break
            if event.kind == "fim_status":
                return event
        pytest.fail("no fim_status event")


@pytest.fixture
def webroot(tmp_path: Any) -> str:
    root = tmp_path / "www"
    (root / "uploads").mkdir(parents=True)
    (root / "index.html").write_text("<html><body><h1>Ministry of Commerce</h1></body></html>\n")
    (root / "news.php").write_text("<?php echo 'news'; ?>\n")
    (root / "style.css").write_text("body { color: black }\n")
    return str(root)


@pytest.fixture
def harness(webroot: str, tmp_path: Any) -> Iterator[Harness]:
    h = Harness(webroot, str(tmp_path / "data"))
    yield h
    h.watcher.stop()
