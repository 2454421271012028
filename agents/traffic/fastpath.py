"""The hot loops: read, decode and account classic-pcap records (offline) or a TPACKET_V3 ring block
(live) in one place, straight from the map.

`analyze` could feed every record through `pcapfile.Capture.records`, `packets.decode_raw` and
`Engine.packet`, but at a few hundred thousand packets/s the generator, the per-packet bytes copy,
the decoded tuple and the calls cost as much as the detectors. Here one struct unpack reads the record
header and one more reads Ethernet + IPv4 + the TCP/UDP ports and flags in place in the mapped file;
a frame is copied only when the detectors will look at its payload. Anything else (VLAN tags, IP
options, fragments, IPv6, ICMP, other link types) takes `decode_raw`. The accounting mirrors
`Engine.packet` exactly (tests/traffic/test_fastpath.py checks the paths agree). `ring_block` is the
same loop over the frames of one ring block, so the live watcher makes no call per frame either.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from .engine import Engine
from .packets import decode_raw
from .pcapfile import Capture

# Ethernet type, IPv4 ver/ihl, total length, flags/fragment offset, protocol, src, dst, ports, TCP
# data offset and flags: 48 bytes of an untagged Ethernet IPv4 frame.
_ETH_IP4 = struct.Struct("!12xHBxH2xHxBxxIIHH8xBB").unpack_from
_FRAME = struct.Struct("=IIIIIIH").unpack_from    # tpacket3_hdr: next_offset, sec, nsec, snaplen, len, status, mac


def run(engine: Engine, capture: Capture, grow: Callable[[int | bytes, int | bytes], None] | None = None) -> None:
    """Feed the rest of a classic pcap (from `capture.pos`) to `engine`; `grow(src, dst)` is called for
    each packet touching no known home address (to learn --home members)."""
    data, linktype, unit, pos, size = capture.data, capture.linktype, capture.unit, capture.pos, len(capture.data)
    record = struct.Struct(capture.order + "IIII").unpack_from
    ether = linktype == 1
    home, trusted = engine.home, engine.trusted
    inbound, outbound, near = engine._inbound, engine._outbound, engine.near
    next_tick, last_ts, count, nbytes = engine.next_tick, engine.last_ts, 0, 0
    while pos + 16 <= size:
        sec, frac, caplen, _orig = record(data, pos)
        start = pos + 16
        if start + caplen > size:
            capture.cut_short(pos)
            break
        pos = start + caplen
        ts = sec + frac * unit
        buf = None
        if ether and caplen >= 54:
            etype, vihl, length, frag, proto, src, dst, sport, dport, doff, flags = _ETH_IP4(data, start)
            fast = etype == 0x0800 and vihl == 0x45 and not frag & 0x3FFF and (proto == 6 or proto == 17)
        else:
            fast = False
        if fast:
            pend = 14 + length if 14 + length < caplen else caplen
            if proto == 6:
                pstart = 34 + (doff >> 4) * 4
            else:
                pstart, flags = 42, 0
            fragid = -1
        else:
            buf = data[start:pos]
            decoded = decode_raw(buf, linktype)
            if decoded is None:
                continue
            src, dst, proto, sport, dport, flags, length, pstart, pend, fragid = decoded
        if ts >= next_tick:   # flush the batched counters before the second is evaluated
            engine.packets += count
            engine.bytes += nbytes
            engine.sec_pkts += count
            engine.sec_bytes += nbytes
            count = nbytes = 0
            engine.last_ts = last_ts
            engine._tick(ts)
            next_tick = engine.next_tick
        last_ts = ts
        count += 1
        nbytes += length
        if grow is not None and dst not in home and src not in home:
            grow(src, dst)
        if dst in home:
            if src not in home and src not in trusted:
                if buf is None:
                    buf = data[start:pos] if pend > pstart else b""
                inbound(ts, buf, src, dst, proto, sport, dport, flags, length, pstart, pend, fragid)
        elif src in home:
            engine.last_out = ts
            engine.out_pkts += 1
            if dst not in trusted:
                if buf is None:
                    buf = data[start:pos] if pend > pstart else b""
                outbound(ts, buf, src, dst, proto, sport, dport, flags, pstart, pend)
        elif near and dst.__class__ is int and dst >> 8 in near:
            engine.neighbour(ts, src, dst, proto, sport, dport, flags)
    engine.packets += count
    engine.bytes += nbytes
    engine.sec_pkts += count
    engine.sec_bytes += nbytes
    engine.last_ts = last_ts
    if 0 < size - pos < 16:
        capture.cut_short(pos)
    capture.pos = pos


def ring_block(engine: Engine, ring: bytes | bytearray | memoryview, at: int, frames: int, linktype: int) -> None:
    """Feed the `frames` frames of one TPACKET_V3 block (the first tpacket3_hdr at `at` in `ring`) to
    `engine`, in packet time (the kernel's receive timestamps)."""
    home, trusted = engine.home, engine.trusted
    inbound, outbound, near = engine._inbound, engine._outbound, engine.near
    ether = linktype == 1
    next_tick, count, nbytes = engine.next_tick, 0, 0
    ts = engine.last_ts
    for _ in range(frames):
        step, sec, nsec, caplen, _len, _status, mac = _FRAME(ring, at)
        start, at = at + mac, at + step
        ts = sec + nsec * 1e-9
        buf = None
        if ether and caplen >= 54:
            etype, vihl, length, frag, proto, src, dst, sport, dport, doff, flags = _ETH_IP4(ring, start)
            fast = etype == 0x0800 and vihl == 0x45 and not frag & 0x3FFF and (proto == 6 or proto == 17)
        else:
            fast = False
        if fast:
            pend = 14 + length if 14 + length < caplen else caplen
            if proto == 6:
                pstart = 34 + (doff >> 4) * 4
            else:
                pstart, flags = 42, 0
            fragid = -1
        else:
            buf = ring[start:start + caplen]
            decoded = decode_raw(buf, linktype)
            if decoded is None:
                continue
            src, dst, proto, sport, dport, flags, length, pstart, pend, fragid = decoded
        if ts >= next_tick:   # flush the batched counters before the second is evaluated
            engine.packets += count
            engine.bytes += nbytes
            engine.sec_pkts += count
            engine.sec_bytes += nbytes
            count = nbytes = 0
            engine._tick(ts)
            next_tick = engine.next_tick
        engine.last_ts = ts
        count += 1
        nbytes += length
        if dst in home:
            if src not in home and src not in trusted:
                if buf is None:
                    buf = ring[start:start + caplen] if pend > pstart else b""
                inbound(ts, buf, src, dst, proto, sport, dport, flags, length, pstart, pend, fragid)
        elif src in home:
            engine.last_out = ts
            engine.out_pkts += 1
            if dst not in trusted:
                if buf is None:
                    buf = ring[start:start + caplen] if pend > pstart else b""
                outbound(ts, buf, src, dst, proto, sport, dport, flags, pstart, pend)
        elif near and dst.__class__ is int and dst >> 8 in near:
            engine.neighbour(ts, src, dst, proto, sport, dport, flags)
    engine.packets += count
    engine.bytes += nbytes
    engine.sec_pkts += count
    engine.sec_bytes += nbytes
