"""The shared per-second feature table, the engine's read-only view and the interface of a detector.

The engine's per-packet path fills `SecondTable` (Zeek-style: the engine owns connection state and
raises the events; detectors only read). It carries, for the second that just ended, per protected
address counters (`HostSecond`), per source and per port counters, the out-of-state TCP segments
(inbound non-SYN segments that belong to no connection the server knows: `Engine` learns connections
from completed handshakes and from the server's own segments, so a capture started mid-flow settles
within a few seconds) and, across seconds, the unfinished HTTP request heads. Each detector keeps its
own per-source state and baselines and reports through `report`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

Report = Callable[..., None]   # Engine.plugin_report: (kind, now, src, dst, evidence, features, start=None, key=None)
OVERFLOW = b""   # per-second source counters: where sources beyond max_sources are counted together


class HostSecond:
    """One protected address's counters for one second (inbound packets from outside)."""

    __slots__ = ("pkts", "bytes", "syn", "done", "udp", "udpb", "icmp", "icmpb", "refl", "reflb", "synack",
                 "reqs")

    def __init__(self) -> None:
        self.pkts = self.bytes = self.syn = self.done = self.udp = self.udpb = 0
        self.icmp = self.icmpb = self.refl = self.reflb = self.synack = self.reqs = 0


EMPTY_HOST = HostSecond()   # what a quiet host's second reads as (never written)


class SecondTable:
    """Counters of one second, replaced by the engine at each tick; keys are address keys and ports.

    Per-source dicts are keyed by the source's address key, or `OVERFLOW` for every source beyond the
    engine's `max_sources` in that second (a spoofed flood is counted, not stored)."""

    __slots__ = ("hosts", "srcs", "src_syn", "src_udp", "src_icmp", "src_reflb", "src_synack", "src_reqs",
                 "web_conns", "syn_ports", "udp_ports", "refl_ports", "pkts", "bytes", "out_pkts",
                 "stray", "stray_dst", "stray_src", "stray_flags", "stray_ports", "first_ts", "partial_http")

    def __init__(self, partial_http: Any = None) -> None:
        self.hosts: dict[Any, HostSecond] = {}   # protected address -> its counters
        self.srcs: dict[Any, int] = {}           # inbound packets per active source
        self.src_syn: dict[Any, int] = {}        # SYNs per source
        self.src_udp: dict[Any, int] = {}        # UDP datagrams per source (not reflected replies)
        self.src_icmp: dict[Any, int] = {}
        self.src_reflb: dict[Any, int] = {}      # bytes of unsolicited amplified replies per source
        self.src_synack: dict[Any, int] = {}     # unsolicited SYN-ACKs per source
        self.src_reqs: dict[Any, int] = {}       # HTTP request heads per source
        self.web_conns: dict[Any, int] = {}      # completed handshakes to web ports per source
        self.syn_ports: dict[int, int] = {}      # SYNs per destination port
        self.udp_ports: dict[int, int] = {}
        self.refl_ports: dict[int, int] = {}     # unsolicited replies per source (service) port
        self.pkts = self.bytes = self.out_pkts = 0   # every packet of the second; the server's own
        self.stray = 0                          # out-of-state inbound TCP segments this second
        self.stray_dst: dict[Any, int] = {}     # per protected address
        self.stray_src: dict[Any, int] = {}     # per source (bounded by the engine's max_sources)
        self.stray_flags: dict[int, int] = {}   # per TCP flag byte
        self.stray_ports: dict[int, int] = {}   # per destination port
        self.first_ts = 0.0
        # the engine's HTTP requests whose head has not ended yet, across seconds (read, never written):
        # (src, sport, dst, dport) -> [first segment time, last segment time, segments, bytes, pauses >= 1 s]
        self.partial_http = partial_http if partial_http is not None else {}


class EngineView(Protocol):
    """What a detector may read of the engine (never write): capture times and connection knowledge."""

    home: set[Any]          # protected address keys
    first_ts: float | None  # the capture's first packet time
    last_ts: float          # the latest packet time
    last_out: float         # last time a protected address sent anything (two-way visibility)
    max_sources: int
    peers: Any              # remotes in a conversation the server opened or accepted -> last time
    asked_udp: Any          # (remote, port) the server sent UDP to -> last time


class Detector:
    """One detector: `kind` names it and its rule; `PARAMS` are its documented defaults (a rule may
    override any of them and nothing else); `decide` is the rule's verdict on a feature record, the same
    function the rule file's tests call.

    Besides `second`, a detector may define any of these per-packet hooks; the engine binds only the
    ones defined (so an unused hook costs nothing on the fast path):

    - `contact(ts, src, dst, port, failed_now, probe)`: a first contact (new SYN, UDP datagram, ping
      with port -1, lone ACK / FIN / NULL probe); `probe` is one of `P_*` below
    - `outcome(src, success, port)`: a first contact was answered (SYN-ACK) or refused (RST, ICMP
      unreachable, no answer within the timeout)
    - `odd_flags(ts, src, flags)`: a NULL/FIN/Xmas/SYN+FIN segment
    - `http_request(ts, src, sport, head)`: the first segment of an HTTP request head
    - `http_status(ts, client, cport, status)`: the first digit of an HTTP reply status (bytes)
    - `service_reply(ts, buf, client, sport, pstart, pend, cport)`: the server's clear-text data on
      another port (login replies)
    - `login_open(ts, key)`, `login_data(ts, src, sport, dport, size)`, `login_close(ts, src, sport,
      dport)`: connections to the ports the detector lists in `login_ports()`
    - `outbound_contact(ts, src, dst, port)`, `outbound_answered(home, remote)`: the server's own first
      contacts and their answers
    """

    kind: ClassVar[str] = ""
    PARAMS: ClassVar[dict[str, Any]] = {}
    HOOKS: ClassVar[tuple[str, ...]] = ("contact", "outcome", "odd_flags", "http_request", "http_status",
                                        "service_reply", "login_open", "login_data", "login_close",
                                        "outbound_contact", "outbound_answered")

    def __init__(self, params: dict[str, Any], report: Report, view: EngineView) -> None:
        self.p = params
        self.report = report
        self.view = view

    def started(self) -> float | None:
        """The capture's first packet time (None before any packet)."""
        return self.view.first_ts

    @staticmethod
    def decide(p: dict[str, Any], f: dict[str, Any]) -> bool:
        raise NotImplementedError

    def second(self, now: float, table: SecondTable) -> None:
        """Judge the second ending at `now`."""

    def finish(self, last_ts: float) -> None:
        """End of a capture: judge what is still open (called before the last `second`)."""

    def tables(self) -> list[Any]:
        """The detector's bounded tables (their evictions are reported in the engine's stats)."""
        return []

    def login_ports(self) -> set[int]:
        """Destination ports whose connections the engine reports through the `login_*` hooks."""
        return set()


# what a first contact was (see Detector.contact): SYN, UDP datagram, lone ACK, FIN/NULL/Xmas, FIN+ACK, ping
P_SYN, P_UDP, P_ACK, P_STEALTH, P_MAIMON, P_PING = range(6)

REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: make a detector known to the rule loader and the engine."""
    REGISTRY[cls.kind] = cls
    return cls
