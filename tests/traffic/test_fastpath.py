"""The offline fast loop (fastpath.run, in-place header reads) must see exactly what the generic path sees:
same anomalies with the same evidence, same packet and byte counts, on a capture mixing every shape."""

from __future__ import annotations

import random
import struct

import pytest
from traffic_frames import SERVER, ether, icmp, ip4, ipv4, tcp, udp, write_pcap

from govwatch.agents.traffic import analyze as analyze_mod
from govwatch.agents.traffic import fastpath
from govwatch.agents.traffic import rules as traffic_rules
from govwatch.agents.traffic.engine import Engine
from govwatch.agents.traffic.packets import decode_raw
from govwatch.agents.traffic.pcapfile import read_capture


def mixed_frames() -> list[tuple[float, bytes]]:
    """Browsing, a port scan, a spoofed SYN flood, a UDP flood, pings, slowloris, VLAN/fragment/short frames."""
    rng, frames, t = random.Random(7), [], 1_700_000_000.0
    for i in range(40):   # ordinary clients completing handshakes and fetching pages
        client, sport, t = f"192.0.2.{1 + i % 20}", 40000 + i, t + 0.2
        frames += [(t, tcp(client, SERVER, sport, 80, "S")), (t + 0.01, tcp(SERVER, client, 80, sport, "SA")),
                   (t + 0.02, tcp(client, SERVER, sport, 80, "A")),
                   (t + 0.03, tcp(client, SERVER, sport, 80, "PA", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
                   (t + 0.04, tcp(SERVER, client, 80, sport, "PA", b"HTTP/1.1 404 Not Found\r\n\r\n"))]
    for port in range(1, 300):   # a vertical scan, refused with RSTs
        t += 0.005
        frames += [(t, tcp("203.0.113.9", SERVER, 55555, port, "S")),
                   (t + 0.001, tcp(SERVER, "203.0.113.9", port, 55555, "RA"))]
    for _ in range(6000):   # spoofed SYN flood
        t += 0.0005
        src = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        frames.append((t, tcp(src, SERVER, rng.randrange(1024, 65535), 80, "S")))
    for i in range(3000):   # UDP flood, pings, odd frames the fast loop hands to decode_raw
        t += 0.0004
        frames.append((t, udp("198.51.100.7", SERVER, 5000 + i % 50, 53, b"q" * 40)))
        if i % 10 == 0:
            frames.append((t, icmp("198.51.100.8", SERVER)))
            frames.append((t, b"\x02" * 6 + b"\x04" * 6 + struct.pack("!HH", 0x8100, 5)
                           + tcp("198.51.100.9", SERVER, 1000 + i, 22, "S")[12:]))
            frames.append((t, ether(ipv4("198.51.100.10", SERVER, 17, b"\x00" * 30, ident=i, frag=0x2000))))
            frames.append((t, tcp("198.51.100.11", SERVER, 2000 + i, 443, "S")[:50]))
    for k in range(12):   # slowloris: a header trickled over many seconds
        frames.append((t + k * 2.0, tcp("192.0.2.99", SERVER, 41000, 80, "PA",
                                        b"GET / HTTP/1.1\r\n" if k == 0 else b"X-a: b\r\n")))
    return sorted(frames, key=lambda f: f[0])


def generic_run(path: str, home: set) -> tuple[list[dict], int, int]:
    found: list[dict] = []
    engine = Engine(traffic_rules.load(), home, lambda state, a: found.append(a.record()) if state == "end" else None)
    for ts, linktype, buf in read_capture(path):
        d = decode_raw(buf, linktype)
        if d is not None:
            engine.packet(ts, buf, *d)
    engine.finish()
    return found, engine.packets, engine.bytes


@pytest.mark.parametrize("home_cidrs", [None, ["10.9.0.0/24"]])
def test_fast_loop_matches_generic_path(tmp_path, monkeypatch, home_cidrs) -> None:
    path = str(tmp_path / "mixed.pcap")
    write_pcap(path, mixed_frames())
    monkeypatch.setattr(analyze_mod, "LOOKAHEAD_PACKETS", 50)   # nearly everything through the fast loop
    engines: list[Engine] = []

    class Recorded(Engine):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            engines.append(self)

    monkeypatch.setattr(analyze_mod, "Engine", Recorded)
    fast: list[dict] = []
    summary = analyze_mod.analyze(path, traffic_rules.load(), lambda a: fast.append(a.record()), home_cidrs)
    assert summary.home == [SERVER]
    expected, packets, nbytes = generic_run(path, {ip4(SERVER)})
    assert (summary.packets, engines[0].bytes) == (packets, nbytes)
    assert {a["kind"] for a in expected} >= {"port_scan", "syn_flood", "udp_flood", "slow_http"}
    assert fast == expected


def ring_of(frames: list[tuple[float, bytes]]) -> tuple[bytearray, int]:
    """The frames laid out as one TPACKET_V3 block would hold them (tpacket3_hdr, frame at tp_mac)."""
    ring, mac = bytearray(), 82
    for ts, frame in frames:
        step = (mac + len(frame) + 15) // 16 * 16
        sec = int(ts)
        header = struct.pack("=IIIIIIH", step, sec, int(round((ts - sec) * 1e9)), len(frame), len(frame), 1, mac)
        ring += header + b"\x00" * (mac - len(header)) + frame + b"\x00" * (step - mac - len(frame))
    return ring, len(frames)


def test_ring_block_loop_matches_generic_path() -> None:
    """The live loop over a ring block (fastpath.ring_block) sees what Engine.packet sees."""
    frames = [(int(ts) + int(round((ts - int(ts)) * 1e9)) * 1e-9, frame) for ts, frame in mixed_frames()]
    expected: list[dict] = []
    generic = Engine(traffic_rules.load(), {ip4(SERVER)}, lambda state, a: expected.append(a.record())
                     if state == "end" else None)
    for ts, frame in frames:   # the kernel's nanosecond timestamps, as the ring holds them
        d = decode_raw(frame, 1)
        if d is not None:
            generic.packet(ts, frame, *d)
    generic.finish()
    packets, nbytes = generic.packets, generic.bytes
    found: list[dict] = []
    engine = Engine(traffic_rules.load(), {ip4(SERVER)}, lambda state, a: found.append(a.record())
                    if state == "end" else None)
    for n in range(0, len(frames), 700):   # several blocks, as the kernel hands them over
        ring, count = ring_of(frames[n:n + 700])
        fastpath.ring_block(engine, ring, 0, count, 1)
    engine.finish()
    assert (engine.packets, engine.bytes) == (packets, nbytes)
    assert {a["kind"] for a in expected} >= {"port_scan", "syn_flood", "udp_flood", "slow_http"}
    assert found == expected
