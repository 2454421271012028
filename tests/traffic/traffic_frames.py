"""Builders for raw frames and capture files, so detector tests feed real bytes with an injected clock."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable

from govwatch.agents.traffic import rules as traffic_rules
from govwatch.agents.traffic.engine import Engine
from govwatch.agents.traffic.packets import LINK_ETHERNET, decode

SERVER = "10.9.0.1"


def ip4(text: str) -> bytes:
    return socket.inet_aton(text)


def ipv4(src: str, dst: str, proto: int, body: bytes, ident: int = 1, frag: int = 0) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident, frag, 64, proto, 0, ip4(src), ip4(dst))
    return header + body


def tcp(src: str, dst: str, sport: int, dport: int, flags: str, payload: bytes = b"") -> bytes:
    bits = sum({"F": 1, "S": 2, "R": 4, "P": 8, "A": 16, "U": 32}[c] for c in flags)
    header = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, bits, 65535, 0, 0)
    return ether(ipv4(src, dst, 6, header + payload))


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"") -> bytes:
    return ether(ipv4(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload))


def icmp(src: str, dst: str, kind: int = 8, code: int = 0, payload: bytes = b"x" * 56) -> bytes:
    return ether(ipv4(src, dst, 1, struct.pack("!BBHI", kind, code, 0, 0) + payload))


def ether(packet: bytes, ethertype: int = 0x0800) -> bytes:
    return b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", ethertype) + packet


def write_pcap(path, frames: Iterable[tuple[float, bytes]], linktype: int = LINK_ETHERNET,
               order: str = "<", nanos: bool = False) -> None:
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    with open(path, "wb") as out:
        out.write(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype))
        for ts, frame in frames:
            frac = round((ts % 1) * (1e9 if nanos else 1e6))
            out.write(struct.pack(order + "IIII", int(ts), frac, len(frame), len(frame)) + frame)


class Feeder:
    """An Engine with default rules, protected host SERVER, and a list of (state, anomaly) seen."""

    def __init__(self, **overrides) -> None:
        rules = traffic_rules.defaults()
        for kind, params in overrides.items():
            rules[kind].params.update(params)
        self.events: list[tuple[str, object]] = []
        self.engine = Engine(rules, {ip4(SERVER)}, lambda state, a: self.events.append((state, a)))

    def feed(self, ts: float, frame: bytes) -> None:
        d = decode(frame, LINK_ETHERNET)
        assert d is not None
        self.engine.packet(ts, frame, *d)

    def finish(self) -> list:
        self.engine.finish()
        return self.events

    def kinds(self, state: str = "start") -> list[str]:
        return [a.kind for s, a in self.events if s == state]

