"""Traffic watcher benchmark, all figures from one run:

1. offline packets/s of `traffic analyze` (every detector on) on a realistic mixed capture of a busy
   web server (2,500 clients; HTTPS, HTTP, DNS, SSH, ICMP in realistic shares) side by side with
   `tshark -r` on the same file, and on the attack corpus repeated, against scapy's PcapReader;
2. live packets/s captured without kernel drops on a veth pair between two network namespaces;
3. CPU share of a core and RSS of the capturing process at 10,000 packets/s.

Run as root: `python bench/traffic.py [--packets 1000000]`. Files go to bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import glob
import heapq
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
CORPUS = os.path.join(HERE, "..", "..", "shared", "corpus", "traffic")
if not os.path.isdir(CORPUS):
    CORPUS = "/work/shared/corpus/traffic"


def build_capture(path: str, total: int) -> int:
    """Concatenate every Ethernet corpus capture, shifted in time, until `total` packets."""
    from govwatch.agents.traffic.pcapfile import read_capture

    frames = []
    for name in sorted(glob.glob(os.path.join(CORPUS, "*.pcap"))):
        records = list(read_capture(name))
        base = records[0][0]
        frames += [(ts - base, frame) for ts, link, frame in records if link == 1]
    written, offset = 0, 1_700_000_000.0
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        while written < total:
            for rel, frame in frames:
                ts = offset + rel
                out.write(struct.pack("<IIII", int(ts), int(ts % 1 * 1e6), len(frame), len(frame)) + frame)
                written += 1
                if written >= total:
                    break
            offset += 120.0
    return written


SERVER, RESOLVER = 0x0A090001, 0x0A090035   # 10.9.0.1 (the web, DNS and SSH server), its resolver
ETHER = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
_IP = struct.Struct("!BBHHHBBHII").pack
_TCP = struct.Struct("!HHIIBBHHH").pack
_UDP = struct.Struct("!HHHH").pack
HELLO, CERT, BULK = b"\x16\x03\x01" + b"h" * 514, b"\x16\x03\x03" + b"c" * 1397, b"\x17\x03\x03" + b"d" * 1397
GET = (b"GET /news/%d HTTP/1.1\r\nHost: moc.gov.kh\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
       b"Firefox/120.0\r\nAccept: */*\r\n\r\n")
PAGE = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 14000\r\n\r\n" + b"n" * 1320


def _tcp(src: int, dst: int, sport: int, dport: int, flags: int, payload: bytes = b"") -> bytes:
    ip = _IP(0x45, 0, 40 + len(payload), 1, 0x4000, 64, 6, 0, src, dst)
    return ETHER + ip + _TCP(sport, dport, 1, 1, 0x50, flags, 65535, 0, 0) + payload


def _udp(src: int, dst: int, sport: int, dport: int, payload: bytes) -> bytes:
    return ETHER + _IP(0x45, 0, 28 + len(payload), 1, 0, 64, 17, 0, src, dst) + _UDP(sport, dport, 8 + len(payload),
                                                                                     0) + payload


def _web(rng: random.Random, t: float, client: int, tls: bool) -> list[tuple[float, bytes]]:
    """One browser connection: handshake, a few requests each answered with several segments, close."""
    sport, port, rtt = rng.randrange(20000, 65000), 443 if tls else 80, rng.uniform(0.01, 0.12)
    up = lambda f, p=b"": _tcp(client, SERVER, sport, port, f, p)   # noqa: E731
    down = lambda f, p=b"": _tcp(SERVER, client, port, sport, f, p)  # noqa: E731
    out = [(t, up(0x02)), (t + rtt / 2, down(0x12)), (t + rtt, up(0x10))]
    t += rtt
    if tls:
        out += [(t, up(0x18, HELLO)), (t + rtt / 2, down(0x18, CERT)), (t + rtt / 2, down(0x18, CERT)),
                (t + rtt, up(0x10))]
        t += rtt
    for _ in range(rng.randint(1, 8)):
        out.append((t, up(0x18, BULK[:rng.randrange(300, 700)] if tls else GET % rng.randrange(9000))))
        for k in range(rng.randint(1, 10)):
            out.append((t + rtt / 2 + k * 0.0005, down(0x18, BULK if tls else PAGE)))
            if k % 2:
                out.append((t + rtt + k * 0.0005, up(0x10)))
        t += rng.uniform(0.2, 4.0)
    return out + [(t, up(0x11)), (t + rtt / 2, down(0x11)), (t + rtt, up(0x10))]


def _dns(rng: random.Random, t: float, client: int) -> list[tuple[float, bytes]]:
    """A query to the server's own DNS service, or the server resolving a name itself."""
    sport = rng.randrange(1024, 65000)
    if rng.random() < 0.7:
        return [(t, _udp(client, SERVER, sport, 53, b"q" * 40)),
                (t + 0.001, _udp(SERVER, client, 53, sport, b"a" * 120))]
    return [(t, _udp(SERVER, RESOLVER, sport, 53, b"q" * 40)),
            (t + 0.002, _udp(RESOLVER, SERVER, 53, sport, b"a" * 150))]


def _ssh(rng: random.Random, t: float, client: int) -> list[tuple[float, bytes]]:
    """An admin's interactive SSH session: keystrokes echoed, some command output."""
    sport, out = rng.randrange(20000, 65000), []
    out += [(t, _tcp(client, SERVER, sport, 22, 0x02)), (t + 0.02, _tcp(SERVER, client, 22, sport, 0x12)),
            (t + 0.04, _tcp(client, SERVER, sport, 22, 0x10))]
    for k in range(rng.randint(100, 200)):
        ts = t + 0.1 + k * rng.uniform(0.05, 0.3)
        out += [(ts, _tcp(client, SERVER, sport, 22, 0x18, b"k" * 36)),
                (ts + 0.02, _tcp(SERVER, client, 22, sport, 0x18, b"o" * rng.choice((36, 36, 500, 1400))))]
    end = out[-1][0] + 0.5
    return out + [(end, _tcp(client, SERVER, sport, 22, 0x11)), (end + 0.02, _tcp(SERVER, client, 22, sport, 0x11)),
                  (end + 0.04, _tcp(client, SERVER, sport, 22, 0x10))]


def _ping(_rng: random.Random, t: float, client: int) -> list[tuple[float, bytes]]:
    echo = b"\x08\x00\x00\x00\x00\x01\x00\x01" + b"p" * 56
    reply = b"\x00" + echo[1:]
    return [(t, ETHER + _IP(0x45, 0, 84, 1, 0, 64, 1, 0, client, SERVER) + echo),
            (t + 0.001, ETHER + _IP(0x45, 0, 84, 1, 0, 64, 1, 0, SERVER, client) + reply)]


MIX = ((0.55, lambda r, t, c: _web(r, t, c, True)), (0.15, lambda r, t, c: _web(r, t, c, False)),
       (0.27, _dns), (0.002, _ssh), (0.028, _ping))   # share of new exchanges: ~73 % TCP web packets


def build_mix(path: str, total: int, clients: int = 2500, per_second: float = 400.0, seed: int = 7) -> int:
    """A busy ministry web server's capture: `per_second` new exchanges a second from `clients`
    addresses, frames written in time order through a heap (memory: only the exchanges in flight)."""
    rng = random.Random(seed)
    addrs = [rng.randrange(0x01000000, 0xDF000000) for _ in range(clients)]
    weights = [w for w, _ in MIX]
    heap: list[tuple[float, int, bytes]] = []
    written, seq, t = 0, 0, 1_700_031_600.0
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        while written < total:
            make = rng.choices(MIX, weights)[0][1]
            for ts, frame in make(rng, t, rng.choice(addrs)):
                heapq.heappush(heap, (ts, seq, frame))
                seq += 1
            t += rng.expovariate(per_second)
            while heap and heap[0][0] < t - 70.0 and written < total:   # no exchange lasts 70 s
                ts, _, frame = heapq.heappop(heap)
                out.write(struct.pack("<IIII", int(ts), int(ts % 1 * 1e6), len(frame), len(frame)) + frame)
                written += 1
    return written


def tshark_rate(path: str, packets: int, *extra: str) -> tuple[float, float]:
    """`tshark -r FILE` (the one-line summary of each dissected packet it prints by default; with -q
    nothing is printed): packets per second of wall time and per CPU-second (user + system of tshark
    and its dumpcap helper), since on a shared machine wall time measures the neighbours too."""
    if not shutil.which("tshark"):
        return 0.0, 0.0
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(["tshark", "-r", path, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return packets / wall, packets / max(cpu, 1e-9)


def mixed(path: str, packets: int) -> dict[str, float]:
    from govwatch.agents.traffic import rules
    from govwatch.agents.traffic.analyze import analyze

    found: list = []
    cpu = time.process_time()
    summary = analyze(path, rules.load(), found.append)
    cpu = time.process_time() - cpu
    return {"packets": packets, "govwatch_pps": summary.pps, "govwatch_cpu_pps": packets / cpu,
            "anomalies": summary.anomalies, "kinds": sorted({a.kind for a in found}),
            "tshark": tshark_rate(path, packets), "tshark_q": tshark_rate(path, packets, "-q")}


def offline(path: str, packets: int) -> dict[str, float]:
    from govwatch.agents.traffic import rules
    from govwatch.agents.traffic.analyze import analyze

    found: list = []
    cpu = time.process_time()
    summary = analyze(path, rules.load(), found.append)
    cpu = time.process_time() - cpu
    result = {"packets": packets, "govwatch_pps": summary.pps, "govwatch_cpu_pps": packets / cpu,
              "govwatch_anomalies": summary.anomalies}
    result["scapy_pps"], result["scapy_cpu_pps"] = scapy_rate(path, min(packets, 50000))
    started = time.perf_counter()
    if shutil.which("tshark"):
        subprocess.run(["tshark", "-r", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        result["tshark_pps"] = packets / (time.perf_counter() - started)
    return result


def scapy_rate(path: str, limit: int) -> tuple[float, float]:
    from scapy.all import PcapReader  # loads every layer, so packets are fully dissected

    started, cpu, count = time.perf_counter(), time.process_time(), 0
    with PcapReader(path) as reader:
        for _packet in reader:
            count += 1
            if count >= limit:
                break
    return count / (time.perf_counter() - started), count / (time.process_time() - cpu)


WATCH = r"""
import json, resource, sys, time
from govwatch.agents.traffic.watcher import SCHEMA, TrafficWatcher
from govwatch.schema import validate
w = TrafficWatcher(validate({"interface": sys.argv[1], "ring": "32MiB"}, SCHEMA, "bench"), {})
w.start(lambda e: None)
while w.stats()["capture"] == "starting": time.sleep(0.02)
print(json.dumps({"ready": w.stats()["capture"]}), flush=True)
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.time()
sys.stdin.readline()
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.time()
w.stop()
cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]  # ru_maxrss survives exec
print(json.dumps({**w.stats(), "cpu_s": cpu, "wall_s": t1 - t0, "maxrss_kib": hwm}), flush=True)
"""

SEND = r"""
import socket, struct, sys, time
iface, mac, count, rate = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((iface, 0))
def frame(i):
    src = bytes([10, 213, 1 + i % 200, 1 + i // 200 % 250])
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 48, i & 0xFFFF, 0, 64, 6, 0, src, bytes([10, 213, 0, 1]))
    tcp = struct.pack("!HHIIBBHHH", 20000 + i % 30000, 80, i, 1, 0x50, 0x10, 512, 0, 0) + b"x" * 8
    return mac + b"\x02" * 6 + b"\x08\x00" + ip + tcp
frames = [frame(i) for i in range(4096)]
send, start, batch = s.send, time.perf_counter(), 256
for n in range(0, count, batch):
    for f in frames[n % 4096:n % 4096 + batch]: send(f)
    ahead = (n + batch) / rate - (time.perf_counter() - start)
    if ahead > 0: time.sleep(ahead)
print(count / (time.perf_counter() - start))
"""


def live(rates: list[float], seconds: float) -> list[dict[str, float]]:
    tag = os.urandom(3).hex()
    srv, cli, vs, vc = f"gwb-s-{tag}", f"gwb-c-{tag}", f"gbs{tag}", f"gbc{tag}"
    cmds = [["ip", "netns", "add", srv], ["ip", "netns", "add", cli],
            ["ip", "link", "add", vs, "type", "veth", "peer", "name", vc],
            ["ip", "link", "set", vs, "netns", srv], ["ip", "link", "set", vc, "netns", cli],
            ["ip", "-n", srv, "addr", "add", "10.213.0.1/16", "dev", vs],
            ["ip", "-n", cli, "addr", "add", "10.213.0.2/16", "dev", vc],
            ["ip", "-n", srv, "link", "set", vs, "up"], ["ip", "-n", cli, "link", "set", vc, "up"]]
    results = []
    try:
        for cmd in cmds:
            subprocess.run(cmd, check=True)
        mac = json.loads(subprocess.run(["ip", "-n", srv, "-j", "link", "show", vs], capture_output=True,
                                        text=True, check=True).stdout)[0]["address"]
        for rate in rates:
            results.append(_live_run(srv, cli, vs, vc, mac, rate, seconds))
    finally:
        subprocess.run(["ip", "netns", "del", srv], check=False)
        subprocess.run(["ip", "netns", "del", cli], check=False)
    return results


def _live_run(srv: str, cli: str, vs: str, vc: str, mac: str, rate: float, seconds: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(WATCH)
    watch = subprocess.Popen(["ip", "netns", "exec", srv, sys.executable, handle.name, vs], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(watch.stdout.readline())["ready"] == "running"
        count = int(rate * seconds)
        sent = subprocess.run(["ip", "netns", "exec", cli, sys.executable, "-c", SEND, vc, mac, str(count), str(rate)],
                              capture_output=True, text=True, check=True).stdout
        time.sleep(1.0)
        watch.stdin.write("\n")
        watch.stdin.flush()
        stats = json.loads(watch.stdout.readline())
    finally:
        watch.wait(timeout=20)
        os.unlink(handle.name)
    return {"offered_pps": rate, "sent_pps": float(sent), "sent": count, "captured": stats["packets"],
            "kernel_drops": stats["kernel_drops"], "cpu_share": stats["cpu_s"] / stats["wall_s"],
            "cpu_s_per_10k_packets": stats["cpu_s"] / max(stats["packets"], 1) * 1e4,
            "maxrss_mib": stats["maxrss_kib"] / 1024, "load": os.getloadavg()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rates", default="10000,50000,100000,150000")
    parser.add_argument("--mix-packets", type=int, default=1_000_000)
    parser.add_argument("--mix-only", action="store_true", help="only the mixed-capture figure")
    parser.add_argument("--live-only", action="store_true", help="only the live figures")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if args.live_only:
        return _print_live(args)
    mix_path = os.path.join(OUT, f"traffic-mix2-{args.mix_packets}.pcap")
    if not os.path.exists(mix_path):
        build_mix(mix_path + ".tmp", args.mix_packets)
        os.replace(mix_path + ".tmp", mix_path)
    mix = mixed(mix_path, args.mix_packets)
    gw, (ts_wall, ts_cpu), (tq_wall, tq_cpu) = mix["govwatch_cpu_pps"], mix["tshark"], mix["tshark_q"]
    print(f"mixed capture ({args.mix_packets} packets, 2,500 clients; every detector on), packets per CPU-second "
          f"(wall in brackets): govwatch {gw:,.0f} ({mix['govwatch_pps']:,.0f}) | tshark -r {ts_cpu:,.0f} "
          f"({ts_wall:,.0f}), x{gw / max(ts_cpu, 1):.2f} | tshark -r -q {tq_cpu:,.0f} ({tq_wall:,.0f}), "
          f"x{gw / max(tq_cpu, 1):.2f} | anomalies {mix['anomalies']} {mix['kinds']}")
    if args.mix_only:
        return 0
    path = os.path.join(OUT, "traffic-bench.pcap")
    packets = build_capture(path, args.packets)
    result = offline(path, packets)
    print(f"offline ({packets} packets, 1 process; wall / per CPU-second): govwatch "
          f"{result['govwatch_pps']:,.0f} / {result['govwatch_cpu_pps']:,.0f} pps | scapy PcapReader "
          f"{result['scapy_pps']:,.0f} / {result['scapy_cpu_pps']:,.0f} pps "
          f"(x{result['govwatch_cpu_pps'] / result['scapy_cpu_pps']:.0f}) | "
          f"tshark -r {result.get('tshark_pps', 0):,.0f} pps (wall)")
    return _print_live(args)


def _print_live(args: argparse.Namespace) -> int:
    if os.geteuid() != 0 or not shutil.which("ip"):
        print("live: skipped (needs root and iproute2)")
        return 0
    print(f"load average before the live runs: {os.getloadavg()[0]:.1f} (shared machine)")
    for run in live([float(r) for r in args.rates.split(",")], args.seconds):
        print(f"live offered {run['offered_pps']:,.0f} pps (sent {run['sent_pps']:,.0f}): captured "
              f"{run['captured']}/{run['sent']}, kernel drops {run['kernel_drops']}, CPU "
              f"{run['cpu_share']:.1%} of a core ({run['cpu_s_per_10k_packets'] * 100:.1f} us/packet), "
              f"RSS {run['maxrss_mib']:.0f} MiB, load average {run['load']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
