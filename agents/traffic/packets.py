"""Raw header parsing: the few fields the detectors need, straight from the bytes.

scapy's full dissection builds an object tree per packet (a few thousand packets/s); the detectors only
need addresses, ports, TCP flags, lengths and where the payload starts, so we read those with
`struct.unpack_from` at fixed offsets (well over a hundred thousand packets/s in CPython).

Addresses are table keys on the hot path, so an IPv4 address is a plain int (cheap to hash, not a
garbage-collected object, and packable with ports into one int key); IPv6 stays 16 bytes. `addr_text`
turns either back into text, only when reporting.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

# Link-layer types (pcap LINKTYPE_* values) we understand.
LINK_NULL = 0          # BSD loopback: 4-byte address family in host byte order
LINK_ETHERNET = 1
LINK_RAW = 101         # raw IPv4/IPv6 (also 12 and 14 on some systems)
LINK_LOOP = 108        # OpenBSD loopback: family in network byte order
LINK_SLL = 113         # Linux cooked capture v1
LINK_IPV4 = 228
LINK_IPV6 = 229
LINK_SLL2 = 276        # Linux cooked capture v2
LINK_TYPES = {LINK_NULL: "null", LINK_ETHERNET: "ethernet", LINK_RAW: "raw", 12: "raw", 14: "raw",
              LINK_LOOP: "loop", LINK_SLL: "linux-sll", LINK_SLL2: "linux-sll2", LINK_IPV4: "ipv4",
              LINK_IPV6: "ipv6"}

TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

_H = struct.Struct("!H").unpack_from
_HH = struct.Struct("!HH").unpack_from
_IPV4 = struct.Struct("!BxHHHxBxxII").unpack_from   # ver/ihl, total length, id, flags/frag, proto, src, dst
_IPV6_EXT = frozenset((0, 43, 60, 51))          # hop-by-hop, routing, destination options, AH
_ETHER_VLAN = frozenset((0x8100, 0x88A8, 0x9100))
_NULL_V6 = frozenset((24, 28, 30))               # AF_INET6 on the BSDs and macOS


class Decoded(NamedTuple):
    """One packet's interesting fields; `sport` is -1 for a non-first IP fragment (no L4 header)."""

    src: int | bytes     # IPv4: int, IPv6: 16 bytes
    dst: int | bytes
    proto: int
    sport: int
    dport: int
    flags: int
    length: int      # IP datagram length (header + payload), for byte rates
    pstart: int      # payload offset in the frame (TCP/UDP data, ICMP body)
    pend: int
    fragid: int      # IP identification when the datagram is fragmented, else -1


_FAST = struct.Struct("!12xHBxHHHxBxxIIHH").unpack_from   # Ethernet + 20-byte IPv4 + ports, at once


def decode_raw(buf: bytes, linktype: int) -> tuple | None:
    """`decode` as a plain tuple, with a one-unpack fast path for untagged Ethernet IPv4 TCP/UDP."""
    if linktype == 1 and len(buf) >= 42:
        ethertype, vihl, total, ident, frag, proto, src, dst, sport, dport = _FAST(buf, 0)
        if ethertype == 0x0800 and vihl == 0x45 and not frag & 0x3FFF and (proto == 6 or proto == 17):
            if proto == 6:
                if len(buf) < 54:
                    return None
                return (src, dst, 6, sport, dport, buf[47], total, 34 + (buf[46] >> 4) * 4,
                        min(14 + total, len(buf)), -1)
            return src, dst, 17, sport, dport, 0, total, 42, min(14 + total, len(buf)), -1
    d = decode(buf, linktype)
    return None if d is None else tuple(d)


def ip_offset(buf: bytes, linktype: int) -> int:
    """Offset of the IP header inside a frame, or -1 when the frame does not carry IP."""
    if linktype == LINK_ETHERNET:
        ethertype, off = _H(buf, 12)[0], 14
        while ethertype in _ETHER_VLAN:
            ethertype, off = _H(buf, off + 2)[0], off + 4
        return off if ethertype in (0x0800, 0x86DD) else -1
    if linktype == LINK_SLL:
        return 16 if _H(buf, 14)[0] in (0x0800, 0x86DD) else -1
    if linktype == LINK_SLL2:
        return 20 if _H(buf, 0)[0] in (0x0800, 0x86DD) else -1
    if linktype in (LINK_RAW, 12, 14, LINK_IPV4, LINK_IPV6):
        return 0
    if linktype in (LINK_NULL, LINK_LOOP):
        family = buf[0] or buf[3]
        return 4 if family == 2 or family in _NULL_V6 else -1
    return -1


def decode(buf: bytes, linktype: int) -> Decoded | None:
    """Decode a captured frame; None for non-IP, truncated or malformed frames."""
    try:
        off = ip_offset(buf, linktype)
        if off < 0:
            return None
        version = buf[off] >> 4
        if version == 4:
            return _ipv4(buf, off)
        if version == 6:
            return _ipv6(buf, off)
    except (struct.error, IndexError):
        return None
    return None


def _ipv4(buf: bytes, off: int) -> Decoded | None:
    vihl, total, ident, frag, proto, src, dst = _IPV4(buf, off)
    ihl = (vihl & 15) * 4
    if ihl < 20:
        return None
    end = min(off + total, len(buf)) if total else len(buf)
    fragid = ident if frag & 0x3FFF else -1
    if frag & 0x1FFF:  # a later fragment: payload only, no transport header
        return Decoded(src, dst, proto, -1, -1, 0, total, off + ihl, end, fragid)
    return _transport(src, dst, proto, buf, off + ihl, end, total, fragid)


def _ipv6(buf: bytes, off: int) -> Decoded | None:
    plen, nxt = _H(buf, off + 4)[0], buf[off + 6]
    src, dst = buf[off + 8:off + 24], buf[off + 24:off + 40]
    pos, end, fragid = off + 40, min(off + 40 + plen, len(buf)), -1
    while nxt in _IPV6_EXT or nxt == 44:
        if nxt == 44:  # fragment header: offset and identification
            fragid = struct.unpack_from("!I", buf, pos + 4)[0]
            later = _H(buf, pos + 2)[0] & 0xFFF8
            nxt, pos = buf[pos], pos + 8
            if later:
                return Decoded(src, dst, nxt, -1, -1, 0, plen + 40, pos, end, fragid)
            continue
        size = (buf[pos + 1] + 2) * 4 if nxt == 51 else (buf[pos + 1] + 1) * 8
        nxt, pos = buf[pos], pos + size
    return _transport(src, dst, nxt, buf, pos, end, plen + 40, fragid)


def _transport(src: int | bytes, dst: int | bytes, proto: int, buf: bytes, pos: int, end: int, length: int,
               fragid: int) -> Decoded | None:
    if proto == TCP:
        sport, dport = _HH(buf, pos)
        return Decoded(src, dst, TCP, sport, dport, buf[pos + 13], length, pos + (buf[pos + 12] >> 4) * 4, end,
                       fragid)
    if proto == UDP:
        sport, dport = _HH(buf, pos)
        return Decoded(src, dst, UDP, sport, dport, 0, length, pos + 8, end, fragid)
    if proto in (ICMP, ICMP6):  # type and code stand in for the ports
        return Decoded(src, dst, ICMP, buf[pos], buf[pos + 1], 0, length, pos + 4, end, fragid)
    return Decoded(src, dst, proto, 0, 0, 0, length, pos, end, fragid)


def addr_text(addr: int | bytes) -> str:
    """Printable form of an address key (IPv4 int, or 4/16 packed bytes)."""
    if isinstance(addr, int):
        return socket.inet_ntoa(addr.to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)


def addr_key(addr: str | bytes | int) -> int | bytes:
    """The hot-path key of an address given as text, packed bytes or key: IPv4 an int, IPv6 16 bytes."""
    if isinstance(addr, str):
        addr = socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)
    if isinstance(addr, bytes) and len(addr) == 4:
        return int.from_bytes(addr, "big")
    return addr


def addr_bytes(text: str) -> int | bytes:
    """Kept for callers that used the packed form as a key: now the same as `addr_key`."""
    return addr_key(text)
