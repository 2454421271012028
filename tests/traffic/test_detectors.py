"""Each detector, fed synthetic raw packets with packet-time clocks: it fires on the attack, explains
itself, ends when the attack stops, and stays silent on the look-alike benign pattern."""

from __future__ import annotations

from traffic_frames import SERVER, Feeder, icmp, tcp, udp

T0 = 1_700_000_000.0
CLIENT = "10.9.1.5"


def handshake(f: Feeder, ts: float, client: str, sport: int, dport: int, request: bytes = b"") -> None:
    f.feed(ts, tcp(client, SERVER, sport, dport, "S"))
    f.feed(ts + 0.001, tcp(SERVER, client, dport, sport, "SA"))
    f.feed(ts + 0.002, tcp(client, SERVER, sport, dport, "A"))
    if request:
        f.feed(ts + 0.003, tcp(client, SERVER, sport, dport, "PA", request))
        f.feed(ts + 0.004, tcp(SERVER, client, dport, sport, "PA", b"HTTP/1.1 200 OK\r\n\r\n"))
    f.feed(ts + 0.005, tcp(client, SERVER, sport, dport, "FA"))


def test_port_scan_by_random_walk_over_refused_ports() -> None:
    f = Feeder()
    for i, port in enumerate(range(20, 28)):  # eight closed ports: the server answers RST
        ts = T0 + i * 0.5
        f.feed(ts, tcp(CLIENT, SERVER, 40000, port, "S"))
        f.feed(ts + 0.001, tcp(SERVER, CLIENT, port, 40000, "RA"))
    f.feed(T0 + 60, udp("10.9.7.7", SERVER, 5000, 9))  # let time pass
    events = f.finish()
    starts = [a for s, a in events if s == "start"]
    assert [a.kind for a in starts] == ["port_scan"]
    assert starts[0].src == CLIENT and starts[0].evidence["failed_contacts"] >= 5
    assert "end" in [s for s, _a in events]


def test_client_browsing_open_port_is_not_a_scan() -> None:
    f = Feeder()
    for i in range(40):
        handshake(f, T0 + i * 2, CLIENT, 40000 + i, 80, b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
    assert f.finish() == []


def test_syn_flood_from_spoofed_sources_then_ends() -> None:
    f = Feeder()
    for i in range(20):  # a normal background: completed handshakes
        handshake(f, T0 + i, CLIENT, 30000 + i, 443)
    for n in range(3000):  # 1,000 SYN/s for 3 s from 3,000 addresses, never completed
        src = f"10.{100 + n // 250}.{n % 250}.{7}"
        f.feed(T0 + 20 + n / 1000, tcp(src, SERVER, 1024 + n, 80, "S"))
    for i in range(30):
        handshake(f, T0 + 24 + i, CLIENT, 31000 + i, 443)
    events = f.finish()
    kinds = [(s, a.kind) for s, a in events]
    assert ("start", "syn_flood") in kinds and ("end", "syn_flood") in kinds
    flood = next(a for s, a in events if a.kind == "syn_flood")
    assert flood.src == "many" and flood.evidence["half_open_ratio"] > 0.9
    assert flood.evidence["top_ports"][0]["port"] == 80


def test_udp_flood_and_icmp_flood() -> None:
    f = Feeder()
    for n in range(5000):
        f.feed(T0 + n / 5000, udp(CLIENT, SERVER, 1000 + n % 60000, 0, b"x" * 20))
    for n in range(3000):
        f.feed(T0 + 5 + n / 1000, icmp("10.9.3.3", SERVER))
    f.finish()
    assert sorted(f.kinds()) == ["icmp_flood", "udp_flood"]


def test_reflection_needs_unsolicited_replies_from_many_reflectors() -> None:
    f = Feeder()
    for n in range(300):  # DNS answers nobody asked for, from 30 resolvers
        f.feed(T0 + n / 100, udp(f"10.50.0.{n % 30 + 1}", SERVER, 53, 1024 + n, b"a" * 1200))
    assert f.finish() and f.kinds() == ["reflection"]
    solicited = Feeder()
    for n in range(300):  # the server's own lookups and their answers
        resolver = f"10.50.0.{n % 30 + 1}"
        solicited.feed(T0 + n / 100, udp(SERVER, resolver, 5000 + n, 53, b"q" * 30))
        solicited.feed(T0 + n / 100 + 0.001, udp(resolver, SERVER, 53, 5000 + n, b"a" * 200))
    assert solicited.finish() == []


def test_brute_force_on_ssh_and_quiet_for_few_logins() -> None:
    f = Feeder()
    for i in range(12):   # short connections, each a key exchange and a password (a few kB)
        handshake(f, T0 + i * 5, CLIENT, 50000 + i, 22, b"SSH-2.0-x\r\n" + b"k" * 2000)
    assert f.finish() and f.kinds() == ["brute_force"]
    anomaly = next(a for s, a in f.events if s == "start")
    assert anomaly.evidence["service"] == "ssh" and anomaly.src == CLIENT
    few = Feeder()
    for i in range(3):
        handshake(few, T0 + i * 5, CLIENT, 50000 + i, 22, b"SSH-2.0-x\r\n" + b"k" * 2000)
    assert few.finish() == []


def test_slow_http_unfinished_headers_trickled() -> None:
    f = Feeder()
    f.feed(T0, tcp(CLIENT, SERVER, 40000, 8080, "S"))
    f.feed(T0 + 0.001, tcp(SERVER, CLIENT, 8080, 40000, "SA"))
    f.feed(T0 + 0.002, tcp(CLIENT, SERVER, 40000, 8080, "A"))
    f.feed(T0 + 0.003, tcp(CLIENT, SERVER, 40000, 8080, "PA", b"GET / HTTP/1.1\r\nHost: x\r\n"))
    for i in range(1, 4):
        f.feed(T0 + i * 5, tcp(CLIENT, SERVER, 40000, 8080, "PA", b"X-a: b\r\n"))
    f.feed(T0 + 16, udp("10.9.7.7", SERVER, 5000, 9))
    assert f.finish() and f.kinds() == ["slow_http"]


def test_http_flood_from_one_source() -> None:
    f = Feeder()
    for i in range(2000):   # 400 requests/s, each on a new connection
        handshake(f, T0 + i / 400, CLIENT, 10000 + i, 80, b"GET /search?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert f.finish() and f.kinds() == ["http_flood"]


def test_volume_spike_after_learning() -> None:
    f = Feeder(volume_spike={"warmup": 60})
    ts = T0
    for _sec in range(120):  # 20 packets/s of background
        for k in range(20):
            f.feed(ts + k / 20, udp(SERVER, "10.9.9.9", 3000, 4000, b"x"))
        ts += 1
    for _sec in range(8):  # 6,000 packets/s, spread over protocols none of which floods alone
        for k in range(6000):
            f.feed(ts + k / 6000, udp(SERVER, f"10.9.{k % 200}.9", 3000, 4000 + k % 3, b"x"))
        ts += 1
    f.finish()
    assert "volume_spike" in f.kinds()


def test_outbound_scan_and_beacon() -> None:
    f = Feeder()
    for n in range(80):  # the server sweeps port 22 across a subnet
        f.feed(T0 + n * 0.05, tcp(SERVER, f"10.77.0.{n + 1}", 45000 + n, 22, "S"))
    for n in range(10):  # and calls one outside address every 30 s
        f.feed(T0 + 100 + n * 30, tcp(SERVER, "45.77.66.6", 46000 + n, 8443, "S"))
    for n in range(10):  # its monitoring agent pushes to the internal Zabbix server as regularly: not a beacon
        f.feed(T0 + 101 + n * 30, tcp(SERVER, "10.9.0.250", 47000 + n, 10051, "S"))
    f.finish()
    patterns = sorted(a.evidence["pattern"] for s, a in f.events if s == "start")
    assert f.kinds() == ["outbound_anomaly", "outbound_anomaly"] and patterns == ["beaconing", "scanning"]


def test_spoofed_flood_keeps_state_bounded() -> None:
    f = Feeder()
    f.engine.detector("port_scan").scan.cap = 5000
    for n in range(40000):
        src = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        f.feed(T0 + n / 20000, udp(src, SERVER, 40000, 1000 + n % 20, b"z"))
    f.finish()
    stats = f.engine.stats()
    assert stats["sources_tracked"] <= 5000 and stats["evicted"] >= 30000
    assert "udp_flood" in f.kinds()


def test_anomaly_record_matches_contract() -> None:
    f = Feeder()
    for n in range(5000):
        f.feed(T0 + n / 5000, udp(CLIENT, SERVER, 1000, 0, b"x"))
    record = next(a for s, a in f.finish() if s == "end").record()
    assert set(record) == {"kind", "start", "end", "src", "dst", "evidence"}
    assert record["start"] <= record["end"] and record["dst"] == SERVER
    assert isinstance(record["evidence"]["explanation"], str)
