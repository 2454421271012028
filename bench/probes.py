#!/usr/bin/env python3
"""Sites probed per minute when sites are slow: the collector's prober against a local slow web server.

A web server in its own process (asyncio, 127.0.0.1, one port, site N = path /N) answers every request
after a fixed delay. The collector's real Prober and UptimeTracker (SQLite store in a temporary folder,
one fsynced transaction per probe) probe S sites for one window with every site's interval equal to the
window, so "keeping up" means every site probed once per window. Defacement judging is off (this measures
probing and the uptime store; judging runs in its own bounded worker processes).
Printed per scenario: probes finished in the window, distinct sites among them (jitter of +-10 % probes a few
sites twice), the probes as a per-minute rate, the rate the sites
need (S x 60 / interval), peak probe threads, the bench process's CPU (cores, user+system, the server
excluded) and peak RSS.
The anchor is today's fixed pool of 4 workers (limit 4) measured in the same run.

    python bench/probes.py [--window 30] [--quick]

The machine may be shared: compare ratios against the anchor, not absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import threading
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

PAGE = b"<html><head><title>Ministry</title></head><body><h1>Ministry of Examples</h1></body></html>"


def serve(delay: float, ready: Any, port_box: Any) -> None:
    """The slow web server: every GET answered after `delay` seconds, Connection: close."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536)) if resource.getrlimit(
        resource.RLIMIT_NOFILE)[1] >= 65536 else None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(delay)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(PAGE), PAGE))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
        port_box.value = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class Counter:
    """The tracker stand-in's wrapper: counts finished probes inside the window, then stores them."""

    def __init__(self, tracker: Any, until: float) -> None:
        self.tracker, self.until = tracker, until
        self.probes = 0
        self.sites: set[str] = set()
        self.failed = 0
        self.lock = threading.Lock()

    def record(self, site: dict[str, Any], result: Any) -> None:
        if time.monotonic() <= self.until:
            with self.lock:
                self.probes += 1
                self.sites.add(site["name"])
                self.failed += not result.up
        self.tracker.record(site, result)


def rss_peak_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def scenario(sites: int, delay: float, window: float, limit: int) -> dict[str, Any]:
    from govwatch.collector.probes import Prober
    from govwatch.collector.uptime import UptimeTracker

    ctx = mp.get_context("spawn")
    ready, port_box = ctx.Event(), ctx.Value("i", 0)
    server = ctx.Process(target=serve, args=(delay, ready, port_box), daemon=True)
    server.start()
    ready.wait(30)
    url = f"http://127.0.0.1:{port_box.value}"
    with tempfile.TemporaryDirectory() as folder:
        tracker = UptimeTracker(os.path.join(folder, "govwatch.db"))
        listed = [{"name": f"site-{i}", "url": f"{url}/{i}", "interval": window, "timeout": 10.0,
                   "defacement": False} for i in range(sites)]
        counter = Counter(tracker, time.monotonic() + window)
        prober = Prober(listed, counter, workers=limit)
        cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        prober.start()
        time.sleep(window)
        cpu1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        peak = prober.pool.peak
        prober.stop()
        tracker.close()
    server.terminate()
    server.join(5)
    cpu = (cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime) / (wall1 - wall0)
    return {"sites": sites, "delay": delay, "limit": limit, "probes": counter.probes, "distinct": len(counter.sites),
            "failed": counter.failed, "per_min": counter.probes * 60.0 / window, "need_min": sites * 60.0 / window,
            "peak": peak, "cpu": cpu, "rss": rss_peak_mb()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=float, default=30.0, help="seconds per scenario = every site's interval")
    parser.add_argument("--limit", type=int, default=128, help="limits.probe_concurrency for the elastic pool")
    parser.add_argument("--quick", action="store_true", help="fewer scenarios (anchor, 1,000 at 1 s)")
    args = parser.parse_args()
    runs = [(1000, 1.0, 4)] + [(1000, d, args.limit) for d in (0.0, 1.0, 3.0)] + [(5000, 0.5, args.limit)]
    if args.quick:
        runs = runs[:1] + runs[2:3]
    print(f"window = interval = {args.window:g} s per scenario (keeping up = every site probed once per window); "
          f"machine may be shared: compare with the anchor (fixed pool of 4)")
    print(f"{'sites':>6} {'delay':>5} {'limit':>5} {'probes':>7} {'distinct':>8} {'sites/min':>9} {'needed':>7} "
          f"{'failed':>6} "
          f"{'peak thr':>8} {'CPU cores':>9} {'RSS MB':>7}")
    anchor = None
    for sites, delay, limit in runs:
        r = scenario(sites, delay, args.window, limit)
        anchor = anchor or r["per_min"]
        print(f"{r['sites']:>6} {r['delay']:>5g} {r['limit']:>5} {r['probes']:>7} {r['distinct']:>8} "
              f"{r['per_min']:>9.0f} {r['need_min']:>7.0f} {r['failed']:>6} {r['peak']:>8} {r['cpu']:>9.2f} "
              f"{r['rss']:>7.0f}"
              f"   x{r['per_min'] / anchor:.1f} anchor", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
