"""Realistic benign captures of a ministry web server, built at test time from raw frames.

Each scenario returns sorted (time, frame) pairs for one everyday situation that a detector could
mistake for an attack: crowds, crawlers, monitoring, the server's own lookups and downloads, an
admin's SSH work, NAT gateways, IPv6, captures cut short or started mid-connection. Nothing here may
be reported by `traffic analyze`.
"""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Callable

from traffic_frames import SERVER, ether, icmp, tcp, udp

T0 = 1_700_031_600.0   # a Tuesday morning, 08:00 Phnom Penh
SERVER6 = "2001:db8:10::1"
RESOLVER = "10.9.0.53"
MIRROR = "203.0.113.80"
ADMIN = "10.20.0.7"
Frames = list[tuple[float, bytes]]
PAGE = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 14000\r\n\r\n" + b"<p>news</p>" * 100
MISSING = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"
BULK = b"\x17\x03\x03" + b"d" * 1445   # a full-size TLS record segment


def get(path: str, agent: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/120.0") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: moc.gov.kh\r\nUser-Agent: {agent}\r\nAccept: */*\r\n\r\n".encode()


def tcp6(src: str, dst: str, sport: int, dport: int, flags: str, payload: bytes = b"") -> bytes:
    v4 = tcp("10.0.0.1", "10.0.0.2", sport, dport, flags, payload)[34:]   # reuse the TCP header builder
    head = struct.pack("!IHBB16s16s", 6 << 28, len(v4), 6, 64, socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst))
    return ether(head + v4, 0x86DD)


def connection(out: Frames, t: float, client: str, sport: int, port: int, requests: list[bytes],
               server: str = SERVER, close: str = "FA", gap: float = 0.2, build: Callable = tcp,
               reply: Callable[[bytes], list[bytes]] | None = None) -> float:
    """One client connection: handshake, requests each answered, then FIN (or RST) close; returns end."""
    rtt = 0.02
    out += [(t, build(client, server, sport, port, "S")), (t + rtt, build(server, client, port, sport, "SA")),
            (t + 2 * rtt, build(client, server, sport, port, "A"))]
    t += 2 * rtt
    for req in requests:
        out.append((t, build(client, server, sport, port, "PA", req)))
        for k, seg in enumerate(reply(req) if reply else [PAGE[:1400], PAGE[1400:2800]]):
            out.append((t + rtt + k * 0.001, build(server, client, port, sport, "PA", seg)))
        out.append((t + 2 * rtt, build(client, server, sport, port, "A")))
        t += gap
    out += [(t, build(client, server, sport, port, close)), (t + rtt, build(server, client, port, sport, "FA")),
            (t + 2 * rtt, build(client, server, sport, port, "A"))]
    return t + 2 * rtt


def visitor(out: Frames, rng: random.Random, t: float, client: str, sport: int, build: Callable = tcp,
            server: str = SERVER) -> None:
    """A browser loading pages: 2-6 parallel keep-alive connections, HTTP or HTTPS, FIN or RST close."""
    port = 443 if rng.random() < 0.7 else 80
    for c in range(rng.randint(2, 6)):
        reqs = [get(f"/news/{rng.randrange(5000)}") if port == 80 else BULK[:rng.randint(200, 600)]
                for _ in range(rng.randint(1, 8))]
        connection(out, t + c * 0.01, client, sport + c, port, reqs, server, "RA" if rng.random() < 0.2 else "FA",
                   rng.uniform(0.1, 3.0), build)


def background(out: Frames, rng: random.Random, start: float, seconds: int, per_second: float,
               clients: list[str]) -> None:
    """`per_second` new visitors a second, drawn from `clients`."""
    t = start
    while t < start + seconds:
        visitor(out, rng, t, rng.choice(clients), rng.randrange(20000, 60000))
        t += rng.expovariate(per_second)


def many_clients(n: int, rng: random.Random) -> list[str]:
    return [f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            for _ in range(n)]


def busy_morning(rng: random.Random) -> Frames:
    """Hundreds of visitors; the quiet early hour ramps up tenfold as offices open."""
    out: Frames = []
    clients = many_clients(600, rng)
    t = T0
    for minute in range(8):
        rate = 2.5 + minute * 3.5   # 2.5 -> 27 visitors/s: ~250 -> ~2,700 packets/s
        background(out, rng, t, 60, rate, clients)
        t += 60
    return out


def crawler(rng: random.Random) -> Frames:
    """A search engine fetching ~8 pages/s from one address over keep-alive, some links dead."""
    out: Frames = []
    bot = "66.249.66.1"
    agent = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

    def reply(req: bytes) -> list[bytes]:
        return [MISSING] if b"/old/" in req else [PAGE[:1400], PAGE[1400:2800]]

    for n in range(60):
        reqs = [get(f"/old/{n}-{k}" if rng.random() < 0.15 else f"/news/{n}-{k}", agent) for k in range(40)]
        connection(out, T0 + n * 5, bot, 40000 + n, 443 if n % 2 else 80, reqs, gap=0.12, reply=reply)
    background(out, rng, T0, 300, 2.0, many_clients(200, rng))
    return out


def monitoring(rng: random.Random) -> Frames:
    """Uptime probes: HTTP health check every 5 s, TCP connect check of SSH every second, pings; the
    server's monitoring agent pushing to the internal monitoring server every 20 s."""
    out: Frames = []
    probe = "198.51.100.20"
    for n in range(300):
        t = T0 + n
        # connect-and-close liveness check of the SSH port: no bytes sent
        out += [(t, tcp(probe, SERVER, 30000 + n, 22, "S")), (t + 0.01, tcp(SERVER, probe, 22, 30000 + n, "SA")),
                (t + 0.02, tcp(probe, SERVER, 30000 + n, 22, "A")),
                (t + 0.021, tcp(probe, SERVER, 30000 + n, 22, "FA")),
                (t + 0.03, tcp(SERVER, probe, 22, 30000 + n, "PA", b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")),
                (t + 0.04, tcp(probe, SERVER, 30000 + n, 22, "RA"))]
        if n % 5 == 0:
            connection(out, t + 0.5, probe, 40000 + n, 443, [get("/healthz", "Blackbox-Exporter/0.24")])
        if n % 2 == 0:
            out += [(t + 0.7, icmp(probe, SERVER, 8)), (t + 0.701, icmp(SERVER, probe, 0))]
        if n % 20 == 0:   # the server's own Zabbix agent pushing to the internal Zabbix server
            connection(out, t + 0.9, SERVER, 48000 + n, 10051, [b"ZBXD\x01" + b"v" * 300], server="10.9.0.250",
                       reply=lambda _r: [b"ZBXD\x01ok"])
    background(out, rng, T0, 300, 1.0, many_clients(100, rng))
    return out


def server_lookups(rng: random.Random) -> Frames:
    """The server's own DNS lookups (bursts when logs are resolved) and NTP sync, all answered."""
    out: Frames = []
    for n in range(3000):
        t = T0 + (n // 50) * 3 + (n % 50) * 0.002   # 50 lookups at once every 3 s
        sport = 32768 + n % 28000
        out += [(t, udp(SERVER, RESOLVER, sport, 53, b"q" * 40)),
                (t + 0.003, udp(RESOLVER, SERVER, 53, sport, b"a" * rng.choice((90, 300, 1400))))]
    for n in range(40):   # ntpd polling four pool servers
        pool = f"162.159.200.{n % 4 + 1}"
        t = T0 + n * 4
        out += [(t, udp(SERVER, pool, 123, 123, b"n" * 48)), (t + 0.03, udp(pool, SERVER, 123, 123, b"n" * 48))]
    background(out, rng, T0, 180, 1.0, many_clients(100, rng))
    return out


def downloads(rng: random.Random) -> Frames:
    """apt fetching packages: large inbound flows to the server's ephemeral ports, after a quiet spell."""
    out: Frames = []
    background(out, rng, T0, 240, 1.0, many_clients(150, rng))
    for n, start in enumerate((T0 + 150, T0 + 190)):
        sport = 45000 + n
        out += [(start, tcp(SERVER, MIRROR, sport, 80, "S")), (start + 0.05, tcp(MIRROR, SERVER, 80, sport, "SA")),
                (start + 0.05, tcp(SERVER, MIRROR, sport, 80, "A")),
                (start + 0.06, tcp(SERVER, MIRROR, sport, 80, "PA", b"GET /debian/pool/x.deb HTTP/1.1\r\n\r\n"))]
        for k in range(6000 * 25):   # ~70 Mbit/s for 25 s, acked every other segment
            t = start + 0.1 + k / 6000
            out.append((t, tcp(MIRROR, SERVER, 80, sport, "A", BULK)))
            if k % 2:
                out.append((t + 0.0001, tcp(SERVER, MIRROR, sport, 80, "A")))
        out.append((start + 26, tcp(SERVER, MIRROR, sport, 80, "FA")))
    return out


def admin_ssh(rng: random.Random) -> Frames:
    """An admin's long SSH session, an scp upload, and an Ansible run of 15 connections in a minute."""
    out: Frames = []
    background(out, rng, T0, 300, 1.0, many_clients(150, rng))
    t = T0 + 1
    out += [(t, tcp(ADMIN, SERVER, 50000, 22, "S")), (t + 0.01, tcp(SERVER, ADMIN, 22, 50000, "SA")),
            (t + 0.02, tcp(ADMIN, SERVER, 50000, 22, "A"))]
    for k in range(1500):   # keystrokes and screen updates
        out += [(t + 0.1 + k * 0.19, tcp(ADMIN, SERVER, 50000, 22, "PA", b"k" * 36)),
                (t + 0.12 + k * 0.19, tcp(SERVER, ADMIN, 22, 50000, "PA", b"s" * rng.randint(36, 900)))]
    start = T0 + 150   # scp of a site archive: ~60 Mbit/s into port 22 for 20 s
    out += [(start, tcp(ADMIN, SERVER, 50001, 22, "S")), (start + 0.01, tcp(SERVER, ADMIN, 22, 50001, "SA")),
            (start + 0.02, tcp(ADMIN, SERVER, 50001, 22, "A"))]
    for k in range(5000 * 20):
        out.append((start + 0.5 + k / 5000, tcp(ADMIN, SERVER, 50001, 22, "A", BULK)))
        if k % 2:
            out.append((start + 0.5 + k / 5000 + 0.0001, tcp(SERVER, ADMIN, 22, 50001, "A")))
    for n in range(15):   # Ansible: one connection per task, each shipping a module of tens of kB
        t = T0 + 200 + n * 4
        module = [b"m" * 1400] * rng.randint(15, 40)
        connection(out, t, ADMIN, 51000 + n, 22, [b"SSH-2.0-OpenSSH_9.2\r\n"] + module, gap=0.005,
                   reply=lambda _r: [b"s" * 600])
    return out


def ansible_run(rng: random.Random) -> Frames:
    """Ansible without pipelining or ControlPersist from a deploy host: per task, two short commands, an
    sftp upload of the module, and its run: sixty SSH connections in a minute, most of them small."""
    out: Frames = []
    deployer = "10.20.0.8"
    hello = [b"SSH-2.0-OpenSSH_9.2\r\n", b"k" * 1500, b"e" * 100, b"a" * 600, b"c" * 300]
    for task in range(15):
        t = T0 + 10 + task * 4
        for step in range(4):
            body = hello + ([b"m" * 1400] * rng.randint(15, 40) if step == 2 else [])
            connection(out, t + step * 0.8, deployer, 50000 + task * 4 + step, 22, body, gap=0.01,
                       reply=lambda _r: [b"s" * 400])
    background(out, rng, T0, 120, 1.0, many_clients(100, rng))
    return out


def mail_submission(rng: random.Random) -> Frames:
    """Three staff submitting a few mails over port 587 with successful AUTH."""
    out: Frames = []
    dialogue = {b"EHLO": [b"250-moc.gov.kh\r\n250 AUTH PLAIN\r\n"], b"AUTH": [b"235 2.7.0 Authentication ok\r\n"],
                b"MAIL": [b"250 OK\r\n"], b"DATA": [b"354 go ahead\r\n"], b"QUIT": [b"221 bye\r\n"]}
    for n in range(9):
        client = f"10.30.0.{n % 3 + 10}"
        reqs = [b"EHLO pc\r\n", b"AUTH PLAIN dXNlcgB1c2VyAHB3\r\n", b"MAIL FROM:<a@moc.gov.kh>\r\n",
                b"DATA\r\n", b"QUIT\r\n"]
        connection(out, T0 + n * 20, client, 52000 + n, 587, reqs,
                   reply=lambda r: dialogue.get(r[:4], [b"250 OK\r\n"]))
    background(out, rng, T0, 200, 1.0, many_clients(100, rng))
    return out


def nat_gateway(rng: random.Random) -> Frames:
    """A ministry office of a hundred staff behind one address: ~25 requests/s from it at once."""
    out: Frames = []
    office = "36.37.140.5"
    for user in range(100):
        for visit in range(6):
            t = T0 + rng.uniform(0, 180)
            for c in range(4):
                reqs = [get(f"/docs/{rng.randrange(900)}") for _ in range(rng.randint(3, 8))]
                connection(out, t + c * 0.01, office, 1024 + (user * 600 + visit * 10 + c) % 64000,
                           80 if c % 2 else 443, reqs, gap=0.15)
    background(out, rng, T0, 180, 1.0, many_clients(100, rng))
    return out


def ipv6_visitors(rng: random.Random) -> Frames:
    """Visitors over IPv6 (and the server's IPv6 DNS lookups), beside IPv4 ones."""
    out: Frames = []
    clients = [f"2400:{rng.randrange(1, 0xffff):x}:{rng.randrange(0xffff):x}::{rng.randrange(1, 0xffff):x}"
               for _ in range(150)]
    t = T0
    while t < T0 + 180:
        visitor(out, rng, t, rng.choice(clients), rng.randrange(20000, 60000), tcp6, SERVER6)
        t += rng.expovariate(2.0)
    background(out, rng, T0, 180, 1.0, many_clients(100, rng))
    return out


def mid_connection(rng: random.Random) -> Frames:
    """A capture started mid-flow: established data both ways, a few SYN-ACKs whose SYN came before."""
    out: Frames = []
    for n in range(40):   # the server's own outgoing connections, SYN sent just before the capture
        remote = f"151.101.{n}.{n + 1}"
        out += [(T0 + n * 0.001, tcp(remote, SERVER, 443, 40000 + n, "SA")),
                (T0 + n * 0.001 + 0.001, tcp(SERVER, remote, 40000 + n, 443, "A"))]
    for n in range(300):   # clients already connected
        client = f"180.{n % 200}.{n // 200}.9"
        for k in range(20):
            t = T0 + 0.01 + k * 0.5 + n * 0.003
            out += [(t, tcp(client, SERVER, 30000 + n, 443, "PA", BULK[:300])),
                    (t + 0.01, tcp(SERVER, client, 443, 30000 + n, "PA", BULK)),
                    (t + 0.02, tcp(client, SERVER, 30000 + n, 443, "A"))]
    background(out, rng, T0, 30, 3.0, many_clients(200, rng))
    return out


def quic_visitors(rng: random.Random) -> Frames:
    """HTTP/3: hundreds of browsers over QUIC (UDP 443), ~1,500 packets/s each way at the peak."""
    out: Frames = []
    clients = many_clients(400, rng)
    t = T0
    while t < T0 + 120:
        client, cport = rng.choice(clients), rng.randrange(20000, 60000)
        out.append((t, udp(client, SERVER, cport, 443, b"\xc3" + b"i" * 1251)))   # Initial, padded
        for k in range(rng.randint(10, 60)):
            at = t + 0.03 + k * 0.02
            out += [(at, udp(SERVER, client, 443, cport, b"\x40" + b"r" * 1250)),
                    (at + 0.01, udp(client, SERVER, cport, 443, b"\x40" + b"a" * 40))]
        t += rng.expovariate(min(40.0, 4.0 + (t - T0) / 2))
    return out


def newsletter(rng: random.Random) -> Frames:
    """The server mails a newsletter: it looks up and connects to 150 recipients' mail hosts in a minute,
    each answers (one is down and never does), plus a CMS fetching feeds from forty sites."""
    out: Frames = []
    for n in range(190):
        remote = f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{n % 250 + 1}"
        port = 25 if n < 150 else 443
        t, sport = T0 + 5 + n * 0.35, 33000 + n
        out += [(t - 0.01, udp(SERVER, RESOLVER, sport, 53, b"q" * 40)),
                (t - 0.005, udp(RESOLVER, SERVER, 53, sport, b"a" * 120)), (t, tcp(SERVER, remote, sport, port, "S"))]
        if n == 7:
            continue   # that mail host is down: retried later by the mail queue
        out += [(t + 0.05, tcp(remote, SERVER, port, sport, "SA")), (t + 0.05, tcp(SERVER, remote, sport, port, "A"))]
        lines = [b"220 mx ESMTP\r\n", b"250 OK\r\n", b"250 OK\r\n", b"354 go\r\n", b"250 queued\r\n"]
        for k, line in enumerate(lines if port == 25 else [PAGE[:1400], PAGE[1400:2800]]):
            out += [(t + 0.1 + k * 0.05, tcp(remote, SERVER, port, sport, "PA", line)),
                    (t + 0.12 + k * 0.05, tcp(SERVER, remote, sport, port, "PA", b"MAIL FROM:<news@moc.gov.kh>\r\n"))]
        out += [(t + 0.5, tcp(SERVER, remote, sport, port, "FA")), (t + 0.55, tcp(remote, SERVER, port, sport, "FA"))]
    background(out, rng, T0, 90, 1.0, many_clients(100, rng))
    return out


def office_logins(rng: random.Random) -> Frames:
    """Office staff behind one NAT address signing in to the intranet at 8:00 (each answered with a
    redirect), and an editor saving a dozen CMS pages under /admin."""
    out: Frames = []
    office = "36.37.140.5"

    def reply(req: bytes) -> list[bytes]:
        if req.startswith(b"POST"):
            return [b"HTTP/1.1 302 Found\r\nLocation: /home\r\nContent-Length: 0\r\n\r\n"]
        return [PAGE[:1400], PAGE[1400:2800]]

    for n in range(60):
        form = b"POST /user/login HTTP/1.1\r\nHost: intranet\r\nContent-Length: 40\r\n\r\nname=staff&pass=secret"
        connection(out, T0 + rng.uniform(0, 240), office, 20000 + n, 80, [get("/user/login"), form, get("/home")],
                   reply=reply)
    for n in range(15):
        save = b"POST /admin/node/%d/edit HTTP/1.1\r\nHost: moc\r\nContent-Length: 9\r\n\r\nbody=news" % n
        connection(out, T0 + 10 + n * 15, ADMIN, 52000 + n, 80, [save, get(f"/node/{n}")], reply=reply)
    background(out, rng, T0, 250, 1.0, many_clients(100, rng))
    return out


def web_restart(rng: random.Random) -> Frames:
    """nginx restarted for five seconds: browsers' parallel connections (and their retries) are refused."""
    out: Frames = []
    clients = many_clients(300, rng)
    background(out, rng, T0, 60, 4.0, clients)
    for n in range(40):   # visitors arriving during the restart: 6 parallel connections, each retried twice
        client, t = rng.choice(clients), T0 + 60 + rng.uniform(0, 5)
        for c in range(12):
            sport = 40000 + n * 20 + c
            out += [(t + c * 0.3, tcp(client, SERVER, sport, 443, "S")),
                    (t + c * 0.3 + 0.01, tcp(SERVER, client, 443, sport, "RA"))]
    background(out, rng, T0 + 66, 60, 4.0, clients)
    return out


def busy_plain_http(rng: random.Random) -> Frames:
    """Twenty seconds of a big site at its daily peak: ~600 plain-HTTP requests/s from thousands of
    visitors over keep-alive; the capture starts mid-peak, so nothing has been learned."""
    out: Frames = []
    clients = many_clients(3000, rng)
    for n, client in enumerate(clients):
        t = T0 + rng.uniform(-5, 20)
        reqs = [get(f"/news/{rng.randrange(9000)}") for _ in range(rng.randint(2, 6))]
        connection(out, t, client, 20000 + n, 80, reqs, gap=rng.uniform(0.5, 2.0))
    return [(ts, frame) for ts, frame in out if ts >= T0]


def short_burst(rng: random.Random) -> Frames:
    """A four-second capture of a busy moment (no time to learn anything: nothing is a spike)."""
    out: Frames = []
    background(out, rng, T0, 4, 60.0, many_clients(400, rng))
    return out


def upload_mid_flow(rng: random.Random) -> Frames:
    """An upload that began before the capture: 2,000 data segments/s for 10 s on one connection (one
    source port, like hping3 --keep), the server acknowledging every other one 30 ms later. Its segments
    are out-of-state only until the server's first ACK: not a one-source-port flood."""
    out: Frames = []
    for k in range(20000):
        t = T0 + 1.0 + k * 0.0005
        out.append((t, tcp("203.0.113.40", SERVER, 51515, 80, "A", BULK[:1000])))
        if k % 2:
            out.append((t + 0.03, tcp(SERVER, "203.0.113.40", 80, 51515, "A")))
    background(out, rng, T0, 20, 5.0, many_clients(100, rng))
    return out


SCENARIOS: dict[str, Callable[[random.Random], Frames]] = {
    "upload_mid_flow": upload_mid_flow,
    "busy_morning": busy_morning, "crawler": crawler, "monitoring": monitoring, "server_lookups": server_lookups,
    "downloads": downloads, "admin_ssh": admin_ssh, "ansible_run": ansible_run, "mail_submission": mail_submission,
    "nat_gateway": nat_gateway, "ipv6_visitors": ipv6_visitors, "quic_visitors": quic_visitors,
    "mid_connection": mid_connection, "newsletter": newsletter,
    "office_logins": office_logins, "busy_plain_http": busy_plain_http, "short_burst": short_burst,
    "web_restart": web_restart}


def build(name: str, seed: int = 1) -> Frames:
    return sorted(SCENARIOS[name](random.Random(seed)), key=lambda f: f[0])
