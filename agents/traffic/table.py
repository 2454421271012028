"""The shared per-second feature table and the interface of a plug-in detector.

The engine's per-packet path fills `SecondTable` (Zeek-style: the engine owns connection state and
raises the events; detectors only read). It carries the unfinished HTTP request heads and the
out-of-state TCP segments: inbound
non-SYN segments that belong to no connection the server knows (`Engine` learns connections from
completed handshakes and from the server's own segments, so a capture started mid-flow settles within
a few seconds). Each detector keeps its own baselines and reports through `report`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

Report = Callable[..., None]   # Engine.plugin_report: (kind, now, src, dst, evidence, features, start=None, key=None)


class SecondTable:
    """Counters of one second, reset by the engine at each tick; keys are address keys and ports."""

    __slots__ = ("stray", "stray_dst", "stray_src", "stray_flags", "stray_ports", "first_ts", "partial_http")

    def __init__(self, partial_http: Any = None) -> None:
        self.stray = 0                          # out-of-state inbound TCP segments this second
        self.stray_dst: dict[Any, int] = {}     # per protected address
        self.stray_src: dict[Any, int] = {}     # per source (bounded by the engine's max_sources)
        self.stray_flags: dict[int, int] = {}   # per TCP flag byte
        self.stray_ports: dict[int, int] = {}   # per destination port
        self.first_ts = 0.0
        # the engine's HTTP requests whose head has not ended yet, across seconds (read, never written):
        # (src, sport, dst, dport) -> [first segment time, last segment time, segments, bytes, pauses >= 1 s]
        self.partial_http = partial_http if partial_http is not None else {}


class Detector:
    """One detector: `kind` names it and its rule; `PARAMS` are its documented defaults (a rule may
    override any of them and nothing else); `decide` is the rule's verdict on a feature record, the same
    function the rule file's tests call."""

    kind: ClassVar[str] = ""
    PARAMS: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: dict[str, Any], report: Report, started: Callable[[], float | None]) -> None:
        self.p = params
        self.report = report
        self.started = started   # the capture's first packet time (None before any packet)

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        raise NotImplementedError

    def second(self, now: float, table: SecondTable) -> None:
        """Judge the second ending at `now`."""


REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: make a detector known to the rule loader and the engine."""
    REGISTRY[cls.kind] = cls
    return cls
