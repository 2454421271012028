"""Floods of non-SYN segments (tcp_flood) and reconnaissance beyond SYN scans (port_scan scan_type),
from raw frames with an injected clock; the same captures through `traffic analyze` where the home
address must be inferred."""

from __future__ import annotations

import json
import random

from benign_traffic import T0, connection
from traffic_frames import SERVER, Feeder, icmp, tcp, udp, write_pcap

from govwatch.cli import main

ATTACKER = "198.51.100.7"


def visitors(frames: list, start: float, seconds: int) -> None:
    """A few ordinary page loads a second, so the flood detectors have a quiet rate to learn."""
    for n in range(seconds * 2):
        connection(frames, start + n / 2, f"192.0.2.{10 + n % 40}", 30000 + n, 443, [b"\x17\x03\x03" + b"q" * 300])


def run(frames: list) -> Feeder:
    feeder = Feeder()
    for ts, frame in sorted(frames, key=lambda f: f[0]):
        feeder.feed(ts, frame)
    feeder.finish()
    return feeder


def starts(feeder: Feeder, kind: str) -> list:
    return [a for s, a in feeder.events if s == "start" and a.kind == kind]


def ack_flood(frames: list, start: float, count: int, flags: str, spoofed: bool, rate: float = 4000.0) -> None:
    rng = random.Random(5)
    for n in range(count):
        src = f"100.{rng.randrange(64, 128)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" if spoofed else ATTACKER
        ts = start + n / rate
        frames.append((ts, tcp(src, SERVER, 1024 + n % 60000, 80, flags)))
        if "R" not in flags:   # the kernel answers a stray ACK/FIN with a reset
            frames.append((ts + 0.0001, tcp(SERVER, src, 80, 1024 + n % 60000, "R")))


def test_ack_flood_from_one_source_is_a_tcp_flood_naming_flags_source_rate() -> None:
    frames: list = []
    visitors(frames, T0, 30)
    ack_flood(frames, T0 + 15, 24000, "A", spoofed=False)
    feeder = run(frames)
    floods = starts(feeder, "tcp_flood")
    assert len(floods) == 1 and floods[0].src == ATTACKER and floods[0].dst == SERVER
    ended = [a for s, a in feeder.events if s == "end" and a.kind == "tcp_flood"][0]
    ev = ended.evidence
    assert ev["flags"][0]["flags"] == "ACK" and ev["peak_packets_per_s"] >= 3000 and not ev["spoofed"]
    assert ev["top_sources"][0]["addr"] == ATTACKER and 4 <= ev["duration_s"] <= 8
    assert ev["total_packets"] >= 20000
    assert not starts(feeder, "port_scan") and not starts(feeder, "syn_flood")


def test_spoofed_rst_flood_is_reported_as_spoofed_many_sources() -> None:
    frames: list = []
    visitors(frames, T0, 30)
    ack_flood(frames, T0 + 15, 12000, "R", spoofed=True)
    feeder = run(frames)
    floods = starts(feeder, "tcp_flood")
    assert len(floods) == 1 and floods[0].src == "many"
    ev = floods[0].evidence
    assert ev["spoofed"] and ev["sources"] >= 1000 and ev["flags"][0]["flags"] == "RST"
    assert "spoofed" in ev["explanation"]


def test_psh_ack_and_xmas_floods_name_their_flags() -> None:
    for flags, name in (("PA", "PSH+ACK"), ("FPU", "FIN+PSH+URG")):
        frames: list = []
        visitors(frames, T0, 25)
        ack_flood(frames, T0 + 12, 8000, flags, spoofed=True)
        floods = starts(run(frames), "tcp_flood")
        assert floods and floods[0].evidence["flags"][0]["flags"] == name, flags


def test_capture_started_mid_flow_is_not_a_tcp_flood() -> None:
    """Hundreds of connections already open when the capture starts: their first segments are
    out-of-state until the server's reply is seen."""
    frames: list = []
    for n in range(800):
        client, port = f"192.0.2.{n % 200 + 1}", 20000 + n
        for k in range(20):
            ts = T0 + n * 0.002 + k * 0.5
            frames.append((ts, tcp(client, SERVER, port, 443, "A", b"x" * 40)))
            frames.append((ts + 0.01, tcp(SERVER, client, 443, port, "PA", b"y" * 1400)))
    assert starts(run(frames), "tcp_flood") == []


def probe_scan(flags: str, ports: range, answer: str | None) -> list:
    frames: list = []
    visitors(frames, T0, 20)
    for n, port in enumerate(ports):
        ts = T0 + 5 + n * 0.004
        frames.append((ts, tcp(ATTACKER, SERVER, 55555, port, flags)))
        if answer:
            frames.append((ts + 0.0005, tcp(SERVER, ATTACKER, port, 55555, answer)))
    return frames


def scan_types(feeder: Feeder) -> list[str]:
    return [a.evidence["scan_type"] for a in starts(feeder, "port_scan")]


def test_ack_scan_is_a_port_scan_not_a_flood() -> None:
    feeder = run(probe_scan("A", range(1, 1001), "R"))   # nmap -sA: every unfiltered port answers RST
    assert scan_types(feeder) == ["ACK scan"] and starts(feeder, "tcp_flood") == []


def test_fin_null_xmas_and_maimon_scans_are_named() -> None:
    assert scan_types(run(probe_scan("F", range(1, 300), "RA"))) == ["FIN/NULL/Xmas scan"]
    assert scan_types(run(probe_scan("", range(1, 300), "RA"))) == ["FIN/NULL/Xmas scan"]
    assert scan_types(run(probe_scan("FPU", range(1, 300), "RA"))) == ["FIN/NULL/Xmas scan"]
    assert scan_types(run(probe_scan("FA", range(1, 300), "R"))) == ["Maimon scan"]


def test_udp_scan_is_named() -> None:
    frames: list = []
    visitors(frames, T0, 20)
    for n, port in enumerate(range(1, 200)):
        ts = T0 + 5 + n * 0.01
        frames.append((ts, udp(ATTACKER, SERVER, 40000, port)))
        frames.append((ts + 0.001, icmp(SERVER, ATTACKER, 3, 3, udp(ATTACKER, SERVER, 40000, port)[14:42])))
    assert scan_types(run(frames)) == ["UDP scan"]


def sweep_frames(tcp_ping: bool) -> list:
    """nmap -sn --disable-arp-ping across 52 addresses of the server's /24 (a few answer)."""
    frames: list = []
    base = SERVER.rsplit(".", 1)[0]
    for n in range(52):
        target, ts = f"{base}.{n + 1}", T0 + n * 0.02
        frames.append((ts, icmp(ATTACKER, target, 8)))
        frames.append((ts + 0.001, icmp(ATTACKER, target, 13, payload=b"\0" * 12)))
        if tcp_ping:
            frames.append((ts + 0.002, tcp(ATTACKER, target, 60000, 443, "S")))
            frames.append((ts + 0.003, tcp(ATTACKER, target, 60000, 80, "A")))
        if n % 10 == 0:
            frames.append((ts + 0.005, icmp(target, ATTACKER, 0)))
    return frames


def test_ping_sweep_across_home_addresses_is_a_host_sweep(tmp_path, capsys) -> None:
    for tcp_ping in (False, True):
        path = tmp_path / f"sweep-{tcp_ping}.pcap"
        write_pcap(path, sorted(sweep_frames(tcp_ping), key=lambda f: f[0]))
        code = main(["traffic", "analyze", str(path)])   # home inferred: one target and its /24
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        scans = [a for a in lines[:-1] if a["kind"] == "port_scan"]
        assert code == 1 and len(scans) == 1, lines
        assert scans[0]["src"] == ATTACKER and scans[0]["evidence"]["scan_type"] == "host sweep"
        assert scans[0]["evidence"]["distinct_hosts"] >= 40


def test_syn_scans_keep_their_names() -> None:
    assert scan_types(run(probe_scan("S", range(1, 200), "RA"))) == ["vertical sweep"]


def test_fin_flood_at_one_port_is_a_tcp_flood_not_fingerprinting() -> None:
    frames: list = []
    visitors(frames, T0, 25)
    ack_flood(frames, T0 + 12, 8000, "F", spoofed=False)
    feeder = run(frames)
    assert [a.evidence["flags"][0]["flags"] for a in starts(feeder, "tcp_flood")] == ["FIN"]
    assert starts(feeder, "port_scan") == []


def test_one_way_capture_of_flows_begun_before_it_is_not_a_tcp_flood() -> None:
    """Only the inbound half is captured (a span of one direction) and hundreds of downloads were
    already running: their clients' ACKs are outside any handshake seen, once per connection."""
    frames: list = []
    for n in range(600):
        client, port = f"192.0.2.{n % 250 + 1}", 20000 + n
        for k in range(60):
            frames.append((T0 + n * 0.003 + k * 0.25, tcp(client, SERVER, port, 443, "A")))
    feeder = run(frames)
    assert starts(feeder, "tcp_flood") == [] and starts(feeder, "port_scan") == []


def dns_traffic(frames: list, start: float, seconds: float, qps: float, clients: list[str]) -> None:
    """Queries to the server's own DNS service, each answered."""
    for n in range(int(seconds * qps)):
        client, ts = clients[n % len(clients)], start + n / qps
        frames += [(ts, udp(client, SERVER, 30000 + n % 30000, 53, b"q" * 30)),
                   (ts + 0.0005, udp(SERVER, client, 53, 30000 + n % 30000, b"a" * 90))]


def test_query_flood_against_the_servers_own_dns_is_a_udp_flood() -> None:
    frames: list = []
    resolvers = [f"192.0.2.{n}" for n in range(1, 60)]
    dns_traffic(frames, T0, 100, 20, resolvers)                          # ~20 queries/s, learned
    dns_traffic(frames, T0 + 80, 8, 4000, ["198.51.100.9", "198.51.100.10"])   # then 4,000/s, answered
    floods = starts(run(frames), "udp_flood")
    assert len(floods) == 1 and floods[0].evidence["service"] == "dns" and floods[0].evidence["answered"]
    assert floods[0].evidence["top_ports"][0]["port"] == 53


def test_a_busy_dns_service_from_the_capture_start_is_not_a_flood() -> None:
    frames: list = []
    dns_traffic(frames, T0, 120, 2500, [f"192.0.2.{n}" for n in range(1, 200)])
    assert starts(run(frames), "udp_flood") == []
