#!/usr/bin/env python3
"""Sustained durable ingest into real collector processes from many simulated agents.

Each simulated agent behaves like the real sender: gzip batches, one request at a time, keep-alive.
Prints events/s accepted (every one committed with fsync before the answer), batch latency percentiles
and the collectors' CPU per 1,000 events; then checks the store holds exactly the events sent (nothing
lost, nothing doubled). The anchor is raw SQLite: single-row transactions fsynced (WAL, synchronous=FULL)
per second in the same folder, measured just before and after the load in the same run — on a shared
machine only ratios to it mean something.

    python bench/ingest.py [--agents 40] [--batch 100] [--seconds 20] [--procs 2]
                           [--store sqlite|postgresql://...] [--collectors N] [--stages]

`--store` is collector.yml's `store:`; with a PostgreSQL DSN (an empty database) two collectors share it
by default. `--collectors 2` on SQLite runs two collector processes on one store file. `--stages` prints
where one batch's time goes inside the collector (bench/ingest_stages.py) instead of the load run.
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

GOAL_SQLITE, GOAL_PG = 17_000, 20_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlite_anchor(folder: str, seconds: float = 2.0) -> float:
    """Raw fsynced SQLite transactions per second in `folder` (the floor under any durable ingest)."""
    path = os.path.join(folder, f"anchor-{uuid.uuid4().hex[:8]}.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t(v) VALUES ('x')")
        conn.execute("COMMIT")
        count += 1
    rate = count / (time.perf_counter() - t0)
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return rate


def start_collectors(work: str, store: str, count: int) -> tuple[list[subprocess.Popen], list[str]]:
    """`count` collector processes on one data dir and one store; their base URLs."""
    gw = os.path.join(os.path.dirname(sys.executable), "govwatch")
    subprocess.run([gw, "collector", "init", "--data-dir", f"{work}/c"], check=True, capture_output=True)
    base = yaml.safe_load(open(f"{work}/c/collector.yml"))
    base.update(sites=[], limits={"agent_events_per_second": 1e6, "agent_burst": 10**7})
    if store != "sqlite":
        base["store"] = store
    base.pop("tls", None)
    procs, urls = [], []
    for index in range(count):
        port = free_port()
        path = f"{work}/c/collector-{index}.yml"
        yaml.safe_dump({**base, "listen": f"127.0.0.1:{port}"}, open(path, "w"))
        log = open(f"{work}/collector-{index}.log", "w")
        procs.append(subprocess.Popen([gw, "collector", "run", "-c", path], stdout=subprocess.DEVNULL, stderr=log))
        urls.append(f"http://127.0.0.1:{port}")
    for proc, url, index in zip(procs, urls, range(count), strict=True):
        if not _wait_healthy(proc, url):
            tail = open(f"{work}/collector-{index}.log").read().strip().splitlines()[-1:] or ["(no output)"]
            for other in procs:
                other.kill()
            raise SystemExit(f"collector {index} did not start (store {store}): {tail[0]}")
    return procs, urls


def _wait_healthy(proc: subprocess.Popen, url: str) -> bool:
    for _ in range(400):
        if proc.poll() is not None:
            return False
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return True
        except requests.RequestException:
            time.sleep(0.05)
    return False


def fim_batch(agent: str, n: int) -> bytes:
    now = time.time()
    events = [{"id": f"{uuid.uuid4().hex}", "kind": "fim", "severity": "medium", "ts": now,
               "summary": f"modified /var/www/html/page{i}.html",
               "data": {"path": f"/var/www/html/page{i}.html", "change": "modified", "root": "/var/www/html",
                        "before": {"sha256": "a" * 64, "size": 1000}, "after": {"sha256": "b" * 64, "size": 1001}}}
              for i in range(n)]
    return gzip.compress(json.dumps({"events": events}).encode(), 5)


def agent_worker(targets: list[tuple[str, str]], batch: int, seconds: float, pool: int, ready: mp.Queue,
                 go: mp.Event, out: mp.Queue) -> None:
    """Simulated agents, one thread each, every one posting to its collector (url, token) one batch at a time.

    Bodies are made before the start (`pool` per agent, unique ids): real agents run on other machines, so
    the JSON and gzip they cost would otherwise be charged to the collector's 2 cores here."""
    import threading

    bodies = {token: [fim_batch(token[:6], batch) for _ in range(pool)] for _url, token in targets}
    latencies: list[float] = []
    sent = [0]
    lock = threading.Lock()
    ready.put(os.getpid())
    go.wait()
    stop_at = time.monotonic() + seconds
    cpu0 = sum(os.times()[:2])

    def one(url: str, token: str) -> None:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}", "Content-Encoding": "gzip",
                                "Content-Type": "application/json"})
        mine = bodies[token]
        while time.monotonic() < stop_at:
            body = mine.pop() if mine else fim_batch(token[:6], batch)
            t0 = time.perf_counter()
            response = session.post(f"{url}/api/v1/events", data=body, timeout=60)
            elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise SystemExit(f"collector answered {response.status_code}: {response.text}")
            with lock:
                latencies.append(elapsed)
                sent[0] += response.json()["accepted"]

    threads = [threading.Thread(target=one, args=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((sent[0], latencies, sum(os.times()[:2]) - cpu0))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ingested_total(url: str) -> int:
    """govwatch_events_ingested_total summed over kinds, as the collector exports it (any store)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{url}/metrics", timeout=30).text
    return int(sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "govwatch_events_ingested_total" and s.labels.get("kind") == "fim"))


def stored_events(work: str, store: str) -> int | None:
    """Rows in the events table (SQLite read directly; another store through the collector's Store)."""
    if store == "sqlite":
        return sqlite3.connect(f"{work}/c/govwatch.db").execute("SELECT COUNT(*) FROM events").fetchone()[0]
    try:
        from govwatch.collector.store import Store

        return int(Store(store).query("SELECT COUNT(*) FROM events")[0][0])
    except Exception as exc:  # this branch's Store may not open that store itself: the metric still checks
        print(f"ingest: (cannot count rows in {store.split('@')[-1]} directly: {str(exc)[:80]})")
        return None


def run_load(args: argparse.Namespace, work: str) -> dict[str, float]:
    procs, urls = start_collectors(work, args.store, args.collectors)
    try:
        key = open(f"{work}/c/enroll-key").read().strip()
        targets = []
        for i in range(args.agents):
            url = urls[i % len(urls)]
            answer = requests.post(f"{url}/api/v1/enroll", json={"name": f"bench-{i:03d}", "enroll_key": key},
                                   timeout=30)
            targets.append((url, answer.json()["token"]))
        out: mp.Queue = mp.Queue()
        ready: mp.Queue = mp.Queue()
        go = mp.Event()
        pool = int(args.seconds * 600 / args.agents) + 10  # bodies per agent, made before the clock starts
        workers = [mp.Process(target=agent_worker, args=(targets[i::args.procs], args.batch, args.seconds, pool,
                                                         ready, go, out)) for i in range(args.procs)]
        for worker in workers:
            worker.start()
        for _ in workers:
            ready.get(timeout=600)  # every worker has made its bodies
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        t0 = time.perf_counter()
        go.set()
        results = [out.get() for _ in workers]
        wall = time.perf_counter() - t0
        cpu = sum(cpu_seconds(p.pid) for p in procs) - sum(cpu0)
        for worker in workers:
            worker.join()
        exported = [ingested_total(url) for url in urls]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)
    sent = sum(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[1])
    return {"sent": sent, "wall": wall, "cpu": cpu, "batches": len(latencies), "client_cpu": sum(r[2] for r in results),
            "p50": statistics.median(latencies) * 1000, "p90": _pct(latencies, 0.90) * 1000,
            "p99": _pct(latencies, 0.99) * 1000, "max": latencies[-1] * 1000,
            "exported": exported, "stored": stored_events(work, args.store)}


def _pct(values: list[float], q: float) -> float:
    return values[max(0, min(len(values) - 1, int(len(values) * q + 0.5) - 1))]


def report(args: argparse.Namespace, r: dict, anchor: tuple[float, float]) -> None:
    rate = r["sent"] / r["wall"]
    mean_anchor = sum(anchor) / 2
    where = "SQLite" if args.store == "sqlite" else args.store.split("@")[-1]
    print(f"ingest: {args.agents} agents x batches of {args.batch}, {args.procs} client processes, "
          f"{args.collectors} collector(s) on {where}, {r['wall']:.1f}s")
    print(f"ingest: anchor: raw SQLite {anchor[0]:,.0f} fsynced tx/s before the load, {anchor[1]:,.0f} after")
    print(f"ingest: {rate:,.0f} events/s durable, {r['batches'] / r['wall']:,.0f} batches/s "
          f"= {rate / mean_anchor:.2f} events and {r['batches'] / r['wall'] / mean_anchor:.3f} batches "
          "per anchor transaction")
    print(f"ingest: batch latency p50 {r['p50']:.1f} ms, p90 {r['p90']:.1f} ms, p99 {r['p99']:.1f} ms, "
          f"max {r['max']:.1f} ms")
    print(f"ingest: collectors used {r['cpu'] / r['wall']:.2f} cores, {1e6 * r['cpu'] / max(1, r['sent']):.0f} ms CPU "
          f"per 1,000 events; the simulated agents used {r['client_cpu'] / r['wall']:.2f} cores")
    stored = "?" if r["stored"] is None else r["stored"]
    exact = all(e == r["sent"] for e in r["exported"]) and r["stored"] in (None, r["sent"])
    print(f"ingest: store holds {stored} events, collectors export {'/'.join(map(str, r['exported']))}, "
          f"for {r['sent']} acknowledged: {'exact' if exact else 'MISMATCH'}")
    goal = GOAL_SQLITE if args.store == "sqlite" else GOAL_PG
    print(f"ingest: goal >= {goal:,} events/s: {'met' if rate >= goal else 'NOT met'} (machine shared: see anchor)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--procs", type=int, default=2, help="client processes driving the simulated agents")
    parser.add_argument("--store", default="sqlite", help="collector.yml store: sqlite, or an empty postgresql:// DB")
    parser.add_argument("--collectors", type=int, default=None,
                        help="collector processes sharing the store (default 1 on SQLite, 2 on PostgreSQL)")
    parser.add_argument("--stages", action="store_true", help="profile one batch's stages in-process and exit")
    args = parser.parse_args()
    if args.collectors is None:
        args.collectors = 1 if args.store == "sqlite" else 2
    if args.stages:
        from ingest_stages import main as stages

        return stages(args.batch)
    with tempfile.TemporaryDirectory() as work:
        before = sqlite_anchor(work)
        result = run_load(args, work)
        after = sqlite_anchor(work)
    report(args, result, (before, after))


if __name__ == "__main__":
    main()
