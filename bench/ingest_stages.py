"""Where one batch's time goes inside the collector, stage by stage, measured serially in-process.

`python bench/ingest.py --stages [--batch 100]`: a real Store (SQLite, fsync) and the real functions the
ingest path calls, each stage timed over many batches (median, ms per batch): gunzip, JSON decode,
validation, row serialisation, the store writes (the bulk way and the old one-INSERT-per-event way, in
the same run), incidents and counters, COMMIT, and the whole handler (App) for one batch alone. What it
cannot show is contention: under load the stages run in 64 threads on one GIL and queue for the writer,
which is what bench/ingest.py's latency figures add.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from typing import Any

from ingest import fim_batch

from govwatch.collector import incidents
from govwatch.collector.counters import Counts
from govwatch.collector.ingest import (
    Batch,
    _agents_seen,
    _count_kinds,
    _insert_bulk,
    _insert_exact,
    _row,
    upsert_counters,
)
from govwatch.collector.store import Store
from govwatch.events import check_event

ROUNDS = 40


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _time(fn: Callable[[], Any], rounds: int = ROUNDS) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return _median_ms(samples)


def _store_stages(store: Store, agent: str, bodies: list[bytes], exact: bool) -> dict[str, float]:
    """Per-stage medians of writing one batch per transaction (bulk or the old per-event way)."""
    stages: dict[str, list[float]] = {"rows": [], "insert": [], "incidents+counters": [], "commit": []}
    for body in bodies:
        events = [check_event(e, i) for i, e in enumerate(json.loads(zlib.decompress(body, 47))["events"])]
        now = time.time()
        t0 = time.perf_counter()
        batch = Batch(agent, events, 0.0, now, [_row(agent, e, now) for e in events])
        t1 = time.perf_counter()
        counts: Counts = {}
        with store.transaction() as conn:
            t2 = time.perf_counter()
            fresh = _insert_exact(conn, [batch], counts, store.joining) if exact else \
                _insert_bulk(conn, [batch], check=False)
            t3 = time.perf_counter()
            if not exact:
                for event in fresh[0]:
                    incidents.apply(conn, agent, event, now, counts, store.joining)
            _count_kinds(counts, fresh[0])
            _agents_seen(conn, [batch])
            upsert_counters(conn, counts)
            t4 = time.perf_counter()
        t5 = time.perf_counter()
        for name, seconds in (("rows", t1 - t0), ("insert", t3 - t2), ("incidents+counters", t4 - t3),
                              ("commit", t5 - t4)):
            stages[name].append(seconds)
    return {name: _median_ms(values) for name, values in stages.items()}


def _handler_ms(work: str, bodies: list[bytes]) -> float:
    """The whole App handler for one batch (auth, decode, validate, store, answer), one at a time."""
    import yaml

    from govwatch.collector.config import load_config
    from govwatch.collector.httpd import Headers, Request
    from govwatch.collector.init import init_collector
    from govwatch.collector.service import Collector

    init_collector(f"{work}/c")
    path = f"{work}/c/collector.yml"
    cfg = yaml.safe_load(open(path))
    cfg.update(listen="127.0.0.1:0", sites=[], limits={"agent_events_per_second": 1e6, "agent_burst": 10**7})
    cfg.pop("tls", None)
    yaml.safe_dump(cfg, open(path, "w"))
    collector = Collector(load_config(path))
    key = open(f"{work}/c/enroll-key").read().strip()
    enroll = Request("POST", "/api/v1/enroll", Headers([]), json.dumps({"name": "stage", "enroll_key": key}).encode(),
                     "127.0.0.1")
    token = json.loads(collector.app(enroll).body)["token"]
    headers = Headers([("Authorization", f"Bearer {token}"), ("Content-Encoding", "gzip")])
    samples = []
    try:
        for body in bodies:
            t0 = time.perf_counter()
            answer = collector.app(Request("POST", "/api/v1/events", headers, body, "127.0.0.1"))
            samples.append(time.perf_counter() - t0)
            assert answer.status == 200, answer.body
    finally:
        collector.store.close()
    return _median_ms(samples)


def main(batch: int) -> None:
    bodies = [fim_batch("stage", batch) for _ in range(ROUNDS * 3)]
    raw = zlib.decompress(bodies[0], 47)
    decoded = json.loads(raw)
    print(f"stages: one batch of {batch} FIM events, median of {ROUNDS} (ms per batch, serial, machine shared)")
    print(f"stages: gunzip {_time(lambda: zlib.decompress(bodies[0], 47)):.2f}")
    print(f"stages: JSON decode {_time(lambda: json.loads(raw)):.2f}")
    print(f"stages: validation {_time(lambda: [check_event(e, i) for i, e in enumerate(decoded['events'])]):.2f}")
    with tempfile.TemporaryDirectory() as work:
        store = Store(f"{work}/store.db")
        for name in ("stage-old", "stage-new"):
            store.add_agent(name, "", f"token-{name}")
        old = _store_stages(store, "stage-old", bodies[:ROUNDS], exact=True)
        new = _store_stages(store, "stage-new", bodies[ROUNDS:2 * ROUNDS], exact=False)
        store.close()
        for label, figures in (("one INSERT per event (before)", old), ("multi-row INSERT (now)", new)):
            print(f"stages: store, {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()) +
                  f"; total {sum(figures.values()):.2f}")
        print(f"stages: whole handler, one batch at a time: {_handler_ms(work, bodies[2 * ROUNDS:]):.2f}")
