"""Offline analysis of a capture file with the live detectors, in packet time.

There is no interface offline, so the protected hosts are inferred: the address receiving the most
first contacts (SYNs) and packets in the opening part of the capture, plus any other address that
receives a comparable share of SYNs (a capture of several servers). `--home` overrides the guess.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from . import fastpath
from .engine import Engine
from .packets import ICMP, SYN, TCP, Decoded, addr_bytes, addr_text, decode, decode_raw
from .pcapfile import open_capture
from .rules import TrafficRule
from .tracker import Anomaly

LOOKAHEAD_PACKETS = 20000
LOOKAHEAD_SECONDS = 60.0


@dataclass
class Summary:
    """The last line of `traffic analyze`."""

    packets: int
    seconds: float
    pps: float
    anomalies: int
    home: list[str]
    warning: str | None = None   # the capture was cut short or damaged: what came before was analysed

    def record(self) -> dict[str, object]:
        return {"packets": self.packets, "seconds": round(self.seconds, 3), "pps": round(self.pps),
                "anomalies": self.anomalies}


def infer_home(decoded: Iterable[Decoded]) -> set[int | bytes]:
    """The protected hosts of a capture: who receives first contacts (SYNs, pings) and packets and
    answers connections (SYN-ACKs, resets), less the first contacts it makes itself (a scanner receives
    many replies but opens every exchange)."""
    packets: dict[int | bytes, int] = {}
    syns: dict[int | bytes, int] = {}
    opened: dict[int | bytes, int] = {}
    answers: dict[int | bytes, int] = {}
    for d in decoded:
        if _group(d.dst):
            continue   # multicast and broadcast (IPv6 listener reports, mDNS) are never the server
        packets[d.dst] = packets.get(d.dst, 0) + 1
        if (d.proto == TCP and d.flags & 0x12 == SYN) or (d.proto == ICMP and d.sport in (8, 13, 128)):
            syns[d.dst] = syns.get(d.dst, 0) + 1
            opened[d.src] = opened.get(d.src, 0) + 1
        elif d.proto == TCP and (d.flags & 0x12 == 0x12 or d.flags & 0x04):   # SYN-ACK or reset: it answers
            answers[d.src] = answers.get(d.src, 0) + 1
    if not packets:
        return set()
    best = max(packets, key=lambda a: packets[a] + 10 * syns.get(a, 0) - 10 * opened.get(a, 0)
               + 2 * answers.get(a, 0))
    home = {best}
    top_syns = syns.get(best, 0)
    home.update(a for a, n in syns.items() if n >= 10 and n >= 0.3 * top_syns)
    return home


def _group(addr: int | bytes) -> bool:
    """A multicast or limited-broadcast address key (IPv4 224.0.0.0/4 and 255.255.255.255, IPv6 ff00::/8)."""
    if addr.__class__ is int:
        return addr >> 28 == 0xE or addr == 0xFFFFFFFF
    return addr[:1] == b"\xff"


class HomeNets:
    """Operator-given protected networks: membership is decided once per address and remembered."""

    def __init__(self, cidrs: list[str]) -> None:
        self.nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self.known: dict[int | bytes, bool] = {}   # bounded: forgotten wholesale when full

    def contains(self, raw: int | bytes) -> bool:
        found = self.known.get(raw)
        if found is None:
            ip = ipaddress.ip_address(raw)
            found = any(ip.version == n.version and ip in n for n in self.nets)
            if len(self.known) >= 65536:
                self.known.clear()
            self.known[raw] = found
        return found


def analyze(path: str, rules: dict[str, TrafficRule], on_anomaly: Callable[[Anomaly], None],
            home_cidrs: list[str] | None = None) -> Summary:
    """Run every detector over `path`; call `on_anomaly` as each anomaly ends. Returns the summary."""
    started = time.perf_counter()
    with open_capture(path) as capture:
        records = capture.records()
        ahead = _look_ahead(records)
        nets = HomeNets(home_cidrs) if home_cidrs else None
        if nets:
            home = {a for _ts, _b, d in ahead for a in (d.src, d.dst) if nets.contains(a)}
        else:
            home = infer_home(d for _ts, _b, d in ahead)
        engine = Engine(rules, home, lambda state, a: on_anomaly(a) if state == "end" else None)
        if nets:
            engine.near = set()   # the operator named the protected networks: only those are judged
        home = engine.home   # the engine's own set: addresses found later under --home are added to it
        packet = engine.packet
        for ts, buf, d in ahead:
            packet(ts, buf, *d)
        del ahead
        grow = None if nets is None else lambda src, dst: _grow(home, nets.contains, src, dst)
        if capture.classic:
            fastpath.run(engine, capture, grow)
        else:
            for ts, linktype, buf in records:
                d = decode_raw(buf, linktype)
                if d is not None:
                    if grow is not None and d[1] not in home and d[0] not in home:
                        grow(d[0], d[1])
                    packet(ts, buf, *d)
        warning = capture.damage
    engine.finish()
    count = engine.packets
    seconds = time.perf_counter() - started
    return Summary(count, seconds, count / seconds if seconds > 0 else 0.0, engine.tracker.total,
                   sorted(addr_text(a) for a in home), warning)


def _look_ahead(records: Iterator[tuple[float, int, bytes]]) -> list[tuple[float, bytes, Decoded]]:
    """The opening packets (decoded), from which the protected hosts are inferred."""
    ahead: list[tuple[float, bytes, Decoded]] = []
    first_ts = None
    for ts, linktype, buf in records:
        d = decode(buf, linktype)
        if d is None:
            continue
        ahead.append((ts, buf, d))
        first_ts = ts if first_ts is None else first_ts
        if len(ahead) >= LOOKAHEAD_PACKETS or ts - first_ts > LOOKAHEAD_SECONDS:
            break
    return ahead


def _grow(home: set[int | bytes], contains: Callable[[int | bytes], bool], src: int | bytes,
          dst: int | bytes) -> None:
    for addr in (dst, src):
        if contains(addr):
            home.add(addr)


def parse_home(values: list[str]) -> list[str]:
    """Validate --home values (addresses or CIDRs); raise ValueError naming the bad one."""
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError:
            raise ValueError(f"--home {value!r}: not an address or CIDR") from None
    return out


__all__ = ["analyze", "infer_home", "parse_home", "addr_bytes"]
