"""Everyday traffic of a ministry web server must raise nothing: each benign scenario (see
benign_traffic.py) is written as a capture and run through `govwatch traffic analyze`. Beside each
fix, the attack it must not hide still fires."""

from __future__ import annotations

import json

import pytest
from benign_periodic import NEIGHBOURS, PERIODIC
from benign_traffic import ADMIN, SCENARIOS, T0, build, connection
from traffic_frames import SERVER, Feeder, icmp, tcp, udp, write_pcap

from govwatch.cli import main

SCENARIOS.update(PERIODIC)   # regular machines: pollers, health checks, backups (benign_periodic.py)
SCENARIOS.update(NEIGHBOURS)   # workstations on the server's own /24


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_benign_capture_raises_nothing(tmp_path, capsys, name: str) -> None:
    frames = build(name)
    path = tmp_path / f"{name}.pcap"
    write_pcap(path, frames)
    code = main(["traffic", "analyze", str(path)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[:-1] == [] and code == 0
    assert lines[-1]["packets"] == len(frames)


def ssh_guess(out: list, t: float, client: str, sport: int) -> None:
    """One password-guessing connection: version, key exchange and a few password tries (~3 kB)."""
    connection(out, t, client, sport, 22, [b"SSH-2.0-libssh_0.9\r\n", b"k" * 1500, b"e" * 100, b"p" * 500,
                                           b"p" * 500], gap=0.3, reply=lambda _r: [b"s" * 700])


def run(frames: list) -> list[str]:
    f = Feeder()
    for ts, frame in sorted(frames, key=lambda x: x[0]):
        f.feed(ts, frame)
    f.finish()
    return f.kinds()


def test_short_ssh_connections_that_speak_briefly_are_guesses() -> None:
    frames: list = []
    for n in range(12):
        ssh_guess(frames, T0 + n * 5, "192.0.2.66", 40000 + n)
    assert run(frames) == ["brute_force"]


def test_connect_and_close_probes_and_big_sessions_are_not_guesses() -> None:
    frames: list = []
    for n in range(60):   # a TCP liveness check of the SSH port every second: nothing sent
        for flags, delay in (("S", 0), ("A", 0.02), ("FA", 0.03)):
            frames.append((T0 + n + delay, tcp("192.0.2.20", SERVER, 30000 + n, 22, flags)))
        frames.append((T0 + n + 0.01, tcp(SERVER, "192.0.2.20", 22, 30000 + n, "SA")))
    for n in range(12):   # a deployment tool: a dozen connections, each shipping tens of kB
        connection(frames, T0 + n * 4, ADMIN, 51000 + n, 22, [b"m" * 1400] * 20, gap=0.005)
    assert run(frames) == []


def test_smtp_logins_accepted_are_not_guesses() -> None:
    frames: list = []
    for n in range(12):
        connection(frames, T0 + n * 5, "192.0.2.30", 41000 + n, 587, [b"EHLO x\r\n", b"AUTH PLAIN abc\r\n"],
                   reply=lambda r: [b"235 2.7.0 ok\r\n" if r.startswith(b"AUTH") else b"250 ok\r\n"])
    assert run(frames) == []
    failed: list = []
    for n in range(12):
        connection(failed, T0 + n * 5, "192.0.2.31", 41000 + n, 587, [b"EHLO x\r\n", b"AUTH PLAIN abc\r\n"],
                   reply=lambda r: [b"535 5.7.8 bad\r\n" if r.startswith(b"AUTH") else b"250 ok\r\n"])
    assert run(failed) == ["brute_force"]


def test_bulk_transfer_from_unknown_source_is_still_a_spike() -> None:
    """The download exemption needs a peer the server talks to: the same bulk, unsolicited, is reported."""
    f = Feeder(volume_spike={"warmup": 60})
    for sec in range(90):
        for k in range(50):
            f.feed(T0 + sec + k / 50, tcp(f"198.51.100.{k + 1}", SERVER, 40000 + k, 443, "A", b"x" * 100))
    for k in range(8000 * 10):
        f.feed(T0 + 90 + k / 8000, tcp("203.0.113.9", SERVER, 80, 45000, "A", b"d" * 1400))
    f.finish()
    assert "volume_spike" in f.kinds()


def test_outbound_sweep_is_reported_though_a_few_hosts_answer() -> None:
    f = Feeder()
    for n in range(80):   # the server sweeps port 445 across a subnet; one host in ten answers
        f.feed(T0 + n * 0.05, tcp(SERVER, f"10.77.0.{n + 1}", 45000 + n, 445, "S"))
        if n % 10 == 0:
            f.feed(T0 + n * 0.05 + 0.01, tcp(f"10.77.0.{n + 1}", SERVER, 445, 45000 + n, "SA"))
    f.finish()
    scans = [a for s, a in f.events if s == "start" and a.kind == "outbound_anomaly"]
    assert len(scans) == 1 and scans[0].evidence["pattern"] == "scanning"
    assert scans[0].evidence["unanswered_hosts"] < scans[0].evidence["distinct_hosts"]


def test_login_posts_answered_without_redirect_are_guesses() -> None:
    """Password guessing on a web form: the form comes back (200) each time; one-way, no reply at all."""
    form = b"POST /wp-login.php HTTP/1.1\r\nHost: moc\r\n\r\nlog=admin&pwd=123456"
    frames: list = []
    for n in range(12):
        connection(frames, T0 + n * 3, "192.0.2.77", 42000 + n, 80, [form],
                   reply=lambda _r: [b"HTTP/1.1 200 OK\r\n\r\n<form>"])
    assert run(frames) == ["brute_force"]
    one_way = [(ts, frame) for ts, frame in frames if frame[26:30] != bytes([10, 9, 0, 1])]
    assert run(one_way) == ["brute_force"]


def unreachable_reply(probe: bytes) -> bytes:
    """The server's ICMP port unreachable quoting the probe's IP header and first 8 bytes."""
    return icmp(SERVER, "192.0.2.50", 3, 3, probe[14:14 + 28])


def test_refused_udp_counts_once_per_port() -> None:
    """A browser retrying QUIC on a server without HTTP/3 is refused 40 times on one port: not a scan;
    a UDP sweep refused on 40 ports is."""
    retries: list = []
    sweep: list = []
    for n in range(40):
        probe = udp("192.0.2.50", SERVER, 50000, 443, b"q" * 1200)
        retries += [(T0 + n * 0.5, probe), (T0 + n * 0.5 + 0.001, unreachable_reply(probe))]
        probe = udp("192.0.2.50", SERVER, 50000, 1000 + n, b"q")
        sweep += [(T0 + n * 0.5, probe), (T0 + n * 0.5 + 0.001, unreachable_reply(probe))]
    assert run(retries) == []
    assert run(sweep) == ["port_scan"]
