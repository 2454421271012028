"""Benign captures of regular machines: monitoring pollers, load-balancer health checks and backup
jobs. They are strictly periodic, from the same source, with the same small exchange, and must be
learned as such (not counted as password guesses, scans or floods) without any allow list."""

from __future__ import annotations

import random

from benign_traffic import SERVER, T0, Frames, background, connection, get, many_clients
from traffic_frames import icmp, tcp

POLLER = "198.51.100.21"          # an external uptime service
LBS = ("10.9.0.2", "10.9.0.3")    # the load balancers in front of the web server (same subnet)
BACKUP = "10.20.0.9"              # the backup server


def ssh_banner_poller(rng: random.Random) -> Frames:
    """check_ssh every second for five minutes: connect, send its version string, read the server's,
    close (the check that a first version called password guessing), and a check_ftp every 10 s."""
    out: Frames = []
    for n in range(300):
        t = T0 + n + rng.uniform(-0.003, 0.003)
        connection(out, t, POLLER, 20000 + n, 22, [b"SSH-2.0-check_ssh_2.4\r\n"], gap=0.01,
                   reply=lambda _r: [b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"])
        if n % 10 == 0:
            connection(out, t + 0.4, POLLER, 40000 + n, 21, [b"QUIT\r\n"], gap=0.01,
                       reply=lambda _r: [b"221 Goodbye.\r\n"])
    background(out, rng, T0, 300, 1.0, many_clients(80, rng))
    return out


def lb_health_checks(rng: random.Random) -> Frames:
    """Two HAProxy load balancers: an HTTP check of /health every 2 s each on a new connection, and a
    TCP check of 443 every second (SYN, SYN-ACK, then the balancer's RST), while they forward
    visitors' requests over keep-alive."""
    out: Frames = []
    for k, lb in enumerate(LBS):
        for n in range(300):
            t = T0 + n + k * 0.37
            port = 30000 + (n * 2 + k * 7000) % 30000
            out += [(t, tcp(lb, SERVER, port, 443, "S")), (t + 0.0003, tcp(SERVER, lb, 443, port, "SA")),
                    (t + 0.0005, tcp(lb, SERVER, port, 443, "R"))]
            if n % 2 == 0:
                connection(out, t + 0.5, lb, port + 1, 8080, [get("/health", "HAProxy/2.6")], gap=0.01,
                           reply=lambda _r: [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
        for n in range(20):   # forwarded visitors, a few requests a second on long keep-alive connections
            connection(out, T0 + n * 15, lb, 50000 + n, 80, [get(f"/news/{rng.randrange(900)}")
                                                            for _ in range(40)], gap=0.35)
    return out


def backup_job(rng: random.Random) -> Frames:
    """The backup server checks the web server every 10 s (ping and a connect-only check of SSH) and
    pulls with rsync over SSH every two minutes: a key exchange, then hundreds of kB either way."""
    out: Frames = []
    for n in range(60):
        t = T0 + n * 10
        port = 33000 + n
        out += [(t, icmp(BACKUP, SERVER, 8)), (t + 0.001, icmp(SERVER, BACKUP, 0)),
                (t + 0.2, tcp(BACKUP, SERVER, port, 22, "S")), (t + 0.201, tcp(SERVER, BACKUP, 22, port, "SA")),
                (t + 0.202, tcp(BACKUP, SERVER, port, 22, "A")), (t + 0.203, tcp(BACKUP, SERVER, port, 22, "FA")),
                (t + 0.204, tcp(SERVER, BACKUP, 22, port, "FA")), (t + 0.205, tcp(BACKUP, SERVER, port, 22, "A"))]
        if n % 12 == 0:
            connection(out, t + 1, BACKUP, 45000 + n, 22, [b"SSH-2.0-OpenSSH_9.2\r\n", b"k" * 1400] + [b"r" * 200] * 40,
                       gap=0.02, reply=lambda _r: [b"d" * 1400] * 4)
    background(out, rng, T0, 600, 0.5, many_clients(60, rng))
    return out


def http_uptime_monitors(rng: random.Random) -> Frames:
    """Three uptime locations fetching the home page every second each, and a status API polled
    every 5 s by the ministry's dashboard, for five minutes."""
    out: Frames = []
    for n in range(300):
        for k, where in enumerate(("203.0.113.31", "203.0.113.32", "203.0.113.33")):
            connection(out, T0 + n + k * 0.3, where, 20000 + (n * 3 + k) % 40000, 443,
                       [b"\x17\x03\x03" + b"u" * 180], gap=0.01)
        if n % 5 == 0:
            connection(out, T0 + n + 0.9, "10.30.0.5", 50000 + n, 80, [get("/api/status", "python-requests/2.31")],
                       gap=0.01)
    background(out, rng, T0, 300, 1.0, many_clients(80, rng))
    return out


PERIODIC = {"ssh_banner_poller": ssh_banner_poller, "lb_health_checks": lb_health_checks,
            "backup_job": backup_job, "http_uptime_monitors": http_uptime_monitors}


def office_lan(rng: random.Random) -> Frames:
    """The capture point also sees the office's workstations on the server's /24 browsing out: their
    SYN-ACKs, the CDNs' ACKs to dozens of their ephemeral ports, a chat client polling every 30 s, a
    file-sync client, the workstations pinging each other. None of it is about the server."""
    out: Frames = []
    cdn = "151.101.1.10"
    for w in range(30):
        station = f"10.9.0.{50 + w}"
        for n in range(20):   # page loads out to the internet: SYN out, SYN-ACK in, data in, ACKs out
            t, port = T0 + rng.uniform(0, 280), 40000 + w * 100 + n
            out += [(t, tcp(station, cdn, port, 443, "S")), (t + 0.01, tcp(cdn, station, 443, port, "SA")),
                    (t + 0.02, tcp(station, cdn, port, 443, "A"))]
            for k in range(6):
                out += [(t + 0.03 + k * 0.01, tcp(cdn, station, 443, port, "PA", b"\x17\x03\x03" + b"c" * 1200)),
                        (t + 0.031 + k * 0.01, tcp(station, cdn, port, 443, "A")),
                        (t + 0.032 + k * 0.01, tcp(cdn, station, 443, port, "A"))]
        for n in range(10):   # a chat client polling like clockwork
            t = T0 + n * 30 + w * 0.1
            out += [(t, tcp(station, "203.0.113.77", 45000 + n, 443, "S")),
                    (t + 0.02, tcp("203.0.113.77", station, 443, 45000 + n, "SA"))]
        peer = f"10.9.0.{50 + (w + 1) % 30}"
        out += [(T0 + w * 9, icmp(peer, station, 8)), (T0 + w * 9 + 0.001, icmp(station, peer, 0))]
    background(out, rng, T0, 300, 1.0, many_clients(80, rng))
    return out


NEIGHBOURS = {"office_lan": office_lan}
