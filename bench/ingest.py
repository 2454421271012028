#!/usr/bin/env python3
"""Sustained durable ingest into a real collector process from many simulated agents.

Each simulated agent behaves like the real sender: gzip batches, one request at a time, keep-alive.
Prints events/s accepted (every one committed with fsync before the answer) and batch latency
percentiles; then checks the store holds exactly the events sent (nothing lost, nothing doubled).

    python bench/ingest.py [--agents 40] [--batch 100] [--seconds 20] [--procs 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests
import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_collector(work: str, store: str = "sqlite") -> tuple[subprocess.Popen, str]:
    gw = os.path.join(os.path.dirname(sys.executable), "govwatch")
    subprocess.run([gw, "collector", "init", "--data-dir", f"{work}/c"], check=True, capture_output=True)
    path = f"{work}/c/collector.yml"
    cfg = yaml.safe_load(open(path))
    port = free_port()
    cfg.update(listen=f"127.0.0.1:{port}", sites=[], limits={"agent_events_per_second": 1e6, "agent_burst": 10**7},
               store=store)
    cfg.pop("tls", None)
    yaml.safe_dump(cfg, open(path, "w"))
    proc = subprocess.Popen([gw, "collector", "run", "-c", path], stdout=subprocess.DEVNULL,
                            stderr=open(f"{work}/collector.log", "w"))
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return proc, url
        except requests.RequestException:
            time.sleep(0.05)
    raise SystemExit("collector did not start: see collector.log")


def fim_batch(agent: str, n: int) -> bytes:
    now = time.time()
    events = [{"id": f"{uuid.uuid4().hex}", "kind": "fim", "severity": "medium", "ts": now,
               "summary": f"modified /var/www/html/page{i}.html",
               "data": {"path": f"/var/www/html/page{i}.html", "change": "modified", "root": "/var/www/html",
                        "before": {"sha256": "a" * 64, "size": 1000}, "after": {"sha256": "b" * 64, "size": 1001}}}
              for i in range(n)]
    return gzip.compress(json.dumps({"events": events}).encode(), 5)


def agent_worker(url: str, tokens: list[str], batch: int, seconds: float, out: mp.Queue) -> None:
    import threading

    latencies: list[float] = []
    sent = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def one(token: str) -> None:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}", "Content-Encoding": "gzip",
                                "Content-Type": "application/json"})
        while time.monotonic() < stop_at:
            body = fim_batch(token[:6], batch)
            t0 = time.perf_counter()
            response = session.post(f"{url}/api/v1/events", data=body, timeout=30)
            elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise SystemExit(f"collector answered {response.status_code}: {response.text}")
            with lock:
                latencies.append(elapsed)
                sent[0] += response.json()["accepted"]

    threads = [threading.Thread(target=one, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((sent[0], latencies))


def stored_events(work: str, store: str) -> int:
    if store == "sqlite":
        return sqlite3.connect(f"{work}/c/govwatch.db").execute("SELECT COUNT(*) FROM events").fetchone()[0]
    from govwatch.collector.store import Store

    return Store(store).query("SELECT COUNT(*) FROM events")[0][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--procs", type=int, default=2, help="client processes driving the simulated agents")
    parser.add_argument("--store", default="sqlite", help="collector.yml store: (sqlite, or an empty postgresql:// DB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        proc, url = start_collector(work, args.store)
        try:
            key = open(f"{work}/c/enroll-key").read().strip()
            tokens = [requests.post(f"{url}/api/v1/enroll", json={"name": f"bench-{i:03d}", "enroll_key": key},
                                    timeout=10).json()["token"] for i in range(args.agents)]
            out: mp.Queue = mp.Queue()
            groups = [tokens[i::args.procs] for i in range(args.procs)]
            t0 = time.perf_counter()
            workers = [mp.Process(target=agent_worker, args=(url, g, args.batch, args.seconds, out)) for g in groups]
            for worker in workers:
                worker.start()
            results = [out.get() for _ in workers]
            wall = time.perf_counter() - t0
            for worker in workers:
                worker.join()
        finally:
            proc.terminate()
            proc.wait(10)
        sent = sum(r[0] for r in results)
        latencies = sorted(x for r in results for x in r[1])
        stored = stored_events(work, args.store)
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(f"ingest: {args.agents} agents x batches of {args.batch}, {args.procs} client processes, {wall:.1f}s")
        print(f"ingest: {sent / wall:,.0f} events/s durable (fsync per batch), {len(latencies) / wall:,.0f} batches/s")
        print(f"ingest: batch latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        print(f"ingest: store holds {stored} events for {sent} acknowledged: "
              f"{'exact' if stored == sent else 'MISMATCH'}")
        print(f"ingest: goal >= 5,000 events/s: {'met' if sent / wall >= 5000 else 'NOT met'}")


if __name__ == "__main__":
    main()
