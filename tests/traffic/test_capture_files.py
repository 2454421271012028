"""Decoding raw frames of every link type, and reading pcap (both byte orders, usec/nsec) and pcapng."""

from __future__ import annotations

import struct

import pytest
from traffic_frames import ipv4, tcp, udp, write_pcap

from govwatch.agents.traffic.packets import LINK_NULL, LINK_RAW, LINK_SLL, LINK_SLL2, SYN, TCP, UDP, addr_text, decode
from govwatch.agents.traffic.pcapfile import CaptureError, read_capture


def test_ethernet_tcp_fields() -> None:
    d = decode(tcp("10.0.0.1", "10.0.0.2", 1234, 80, "S"), 1)
    assert (addr_text(d.src), addr_text(d.dst), d.proto, d.sport, d.dport, d.flags & SYN) == \
        ("10.0.0.1", "10.0.0.2", TCP, 1234, 80, SYN)


@pytest.mark.parametrize("linktype,prefix", [
    (LINK_RAW, b""), (LINK_SLL, b"\x00" * 14 + b"\x08\x00"), (LINK_SLL2, b"\x08\x00" + b"\x00" * 18),
    (LINK_NULL, b"\x02\x00\x00\x00")])
def test_other_link_types(linktype: int, prefix: bytes) -> None:
    packet = ipv4("192.0.2.1", "192.0.2.2", 17, struct.pack("!HHHH", 53, 999, 8, 0))
    d = decode(prefix + packet, linktype)
    assert d is not None and d.proto == UDP and (d.sport, d.dport) == (53, 999)


def test_vlan_ipv6_and_fragments() -> None:
    v6 = (struct.pack("!IHBB", 6 << 28, 20, 6, 64) + bytes(15) + b"\x01" + bytes(15) + b"\x02"
          + struct.pack("!HHIIBBHHH", 5, 443, 0, 0, 0x50, 2, 0, 0, 0))
    frame = b"\x00" * 12 + b"\x81\x00\x00\x07\x86\xdd" + v6
    d = decode(frame, 1)
    assert addr_text(d.dst) == "::2" and d.dport == 443
    later = ipv4("192.0.2.1", "192.0.2.2", 17, b"x" * 40, ident=77, frag=185)
    d = decode(later, LINK_RAW)
    assert d.sport == -1 and d.fragid == 77


def test_truncated_and_non_ip_frames_are_skipped() -> None:
    assert decode(tcp("10.0.0.1", "10.0.0.2", 1, 2, "S")[:20], 1) is None
    assert decode(b"\x00" * 12 + b"\x08\x06" + b"\x00" * 28, 1) is None


@pytest.mark.parametrize("order,nanos", [("<", False), (">", False), ("<", True), (">", True)])
def test_pcap_variants(tmp_path, order: str, nanos: bool) -> None:
    path = tmp_path / "x.pcap"
    frames = [(1000.25, udp("10.0.0.1", "10.0.0.2", 1, 2)), (1001.5, tcp("10.0.0.1", "10.0.0.2", 1, 2, "S"))]
    write_pcap(path, frames, order=order, nanos=nanos)
    got = list(read_capture(str(path)))
    assert [(round(ts, 6), frame) for ts, _l, frame in got] == frames


def test_pcapng_with_nanosecond_resolution(tmp_path) -> None:
    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    frame = udp("10.0.0.1", "10.0.0.2", 5, 6)
    ts = 1_600_000_000_123_456_789
    data = (block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
            + block(1, struct.pack("<HHI", 1, 0, 65535) + struct.pack("<HHB3x", 9, 1, 9) + b"\x00" * 4)
            + block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame))
    path = tmp_path / "x.pcapng"
    path.write_bytes(data)
    ((got_ts, link, got),) = list(read_capture(str(path)))
    assert got == frame and link == 1 and abs(got_ts - 1_600_000_000.123456789) < 1e-6


def test_not_a_capture_is_one_clear_error(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a capture file at all")
    with pytest.raises(CaptureError, match="not a pcap or pcapng capture"):
        list(read_capture(str(path)))


def test_truncated_last_packet_ends_quietly(tmp_path) -> None:
    path = tmp_path / "cut.pcap"
    write_pcap(path, [(1.0, udp("10.0.0.1", "10.0.0.2", 1, 2))] * 3)
    path.write_bytes(path.read_bytes()[:-10])
    assert len(list(read_capture(str(path)))) == 2
