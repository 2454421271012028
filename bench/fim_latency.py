"""Realtime latency of the FIM watcher: file closed -> event committed to the agent's durable spool.

Usage: fim_latency.py TREE DATA_DIR [--rate 500] [--seconds 4]
Starts the watcher on TREE (baseline first), then writes `rate` files per second into TREE/latency/
and prints one JSON line: p50/p99/max latency in ms, events seen, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time

from govwatch.agents.fim.watcher import SCHEMA, FimWatcher
from govwatch.events import Event
from govwatch.schema import validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("tree")
    parser.add_argument("data_dir")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--human", action="store_true", help="two readable lines instead of JSON")
    args = parser.parse_args()
    try:
        from govwatch.agents.spool import Spool

        spool = Spool(os.path.join(args.data_dir, "spool.db"))
        put, sink_name = (lambda e: spool.put([e])), "spool"
    except ImportError:
        put, sink_name = (lambda e: None), "memory"
    arrived: dict[str, float] = {}
    done = threading.Event()
    want = int(args.rate * args.seconds)

    def emit(event: Event) -> None:
        put(event)
        if event.kind == "fim":
            arrived.setdefault(event.data["path"], time.perf_counter())
            if len(arrived) >= want + 1:
                done.set()

    section = validate({"paths": [args.tree], "rescan_interval": "1h"}, SCHEMA, "bench")
    watcher = FimWatcher(section, {"data_dir": args.data_dir})
    rss_before = current_rss_kib()  # the interpreter and modules, before any baseline exists
    started = time.perf_counter()
    watcher.start(emit)
    watcher.ready.wait()
    baseline_s = time.perf_counter() - started
    rss_after_baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    files = watcher.stats()["watched_files"]
    folder = os.path.join(args.tree, "latency")
    os.mkdir(folder)
    closed = write_at_rate(folder, want, args.rate)
    done.wait(timeout=30)
    watcher.stop()
    lat = sorted((arrived[p] - t) * 1000 for p, t in closed.items() if p in arrived)
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 2) if lat else None  # noqa: E731
    result = {"sink": sink_name, "changes": want, "events": len(lat), "p50_ms": pick(0.50),
                      "p99_ms": pick(0.99), "max_ms": round(lat[-1], 2) if lat else None,
                      "watched_files": files, "baseline_s": round(baseline_s, 2),
                      "rss_mib": round(rss_after_baseline / 1024, 1),
                      "rss_before_mib": round(rss_before / 1024, 1),
                      "rss_mib_per_100k": round(rss_after_baseline / 1024 * 100_000 / max(files, 1), 1),
                      "added_mib_per_100k": round((rss_after_baseline - rss_before) / 1024 * 100_000 / max(files, 1),
                                                  1)}
    print(human(result) if args.human else json.dumps(result))


def human(r: dict) -> str:
    return (f"  {r['events']}/{r['changes']} events, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms (goal 50), "
            f"max {r['max_ms']} ms, sink {r['sink']}\n"
            f"  watcher: {r['watched_files']} entries, baseline {r['baseline_s']} s, peak RSS {r['rss_mib']} MiB"
            f" = {r['rss_mib_per_100k']} MiB per 100k files (goal 40; {r['rss_before_mib']} MiB before the watcher"
            f" started, {r['added_mib_per_100k']} MiB per 100k files added by it)")


def current_rss_kib() -> int:
    """Resident memory now (ru_maxrss is the peak, so it cannot give the starting point)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def write_at_rate(folder: str, count: int, rate: float) -> dict[str, float]:
    """Write `count` small files at `rate` per second; return path -> time its close() returned."""
    closed: dict[str, float] = {}
    start = time.perf_counter()
    for i in range(count):
        due = start + i / rate
        if (wait := due - time.perf_counter()) > 0:
            time.sleep(wait)
        path = os.path.join(folder, f"c{i}.html")
        with open(path, "w") as handle:
            handle.write(f"<p>change {i}</p>\n")
        closed[path] = time.perf_counter()
    return closed


if __name__ == "__main__":
    main()
