"""Traffic watcher benchmark, all figures from one run:

1. offline packets/s of `traffic analyze` on a large capture (corpus packets repeated), against scapy's
   PcapReader dissection and `tshark -r` on the same file;
2. live packets/s captured without kernel drops on a veth pair between two network namespaces;
3. CPU share of a core and RSS of the capturing process at 10,000 packets/s.

Run as root: `python bench/traffic.py [--packets 1000000]`. Files go to bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
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
w = TrafficWatcher(validate({"interface": sys.argv[1]}, SCHEMA, "bench"), {})
w.start(lambda e: None)
while w.stats()["capture"] == "starting": time.sleep(0.02)
print(json.dumps({"ready": w.stats()["capture"]}), flush=True)
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.time()
sys.stdin.readline()
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.time()
w.stop()
cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
print(json.dumps({**w.stats(), "cpu_s": cpu, "wall_s": t1 - t0, "maxrss_kib": r1.ru_maxrss}), flush=True)
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
            "maxrss_mib": stats["maxrss_kib"] / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rates", default="10000,50000,100000,150000")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "traffic-bench.pcap")
    packets = build_capture(path, args.packets)
    result = offline(path, packets)
    print(f"offline ({packets} packets, 1 process; wall / per CPU-second): govwatch "
          f"{result['govwatch_pps']:,.0f} / {result['govwatch_cpu_pps']:,.0f} pps | scapy PcapReader "
          f"{result['scapy_pps']:,.0f} / {result['scapy_cpu_pps']:,.0f} pps "
          f"(x{result['govwatch_cpu_pps'] / result['scapy_cpu_pps']:.0f}) | "
          f"tshark -r {result.get('tshark_pps', 0):,.0f} pps (wall)")
    if os.geteuid() == 0 and shutil.which("ip"):
        for run in live([float(r) for r in args.rates.split(",")], args.seconds):
            print(f"live offered {run['offered_pps']:,.0f} pps (sent {run['sent_pps']:,.0f}): captured "
                  f"{run['captured']}/{run['sent']}, kernel drops {run['kernel_drops']}, CPU "
                  f"{run['cpu_share']:.1%} of a core, RSS {run['maxrss_mib']:.0f} MiB")
    else:
        print("live: skipped (needs root and iproute2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
