"""Group commit in the store: concurrent batches share a transaction, yet each is answered with its own exact
(accepted, duplicates) only once committed; a batch's own failure fails it alone; counters move once per event."""

from __future__ import annotations

import threading
import time

import pytest

from govwatch.collector import ingest
from govwatch.collector.store import Store, StoreUnavailable


def fim(i: int, severity: str = "medium") -> dict:
    return {"id": f"event-{i:06d}", "kind": "fim", "severity": severity, "ts": 1.8e9, "summary": f"changed {i}",
            "data": {"path": f"/var/www/html/f{i}.html", "change": "modified"}, "agent": None}


@pytest.fixture
def store(tmp_path):
    opened = Store(str(tmp_path / "store.db"))
    for name in ("web-01", "web-02"):
        opened.add_agent(name, "", f"token-{name}")
    yield opened
    opened.close()


def counter(store: Store, name: str, **labels: str) -> float:
    return sum(v for lab, v in store.counters(name) if all(lab.get(k) == w for k, w in labels.items()))


def run_concurrently(store: Store, jobs: list[tuple[str, list[dict]]]) -> list[object]:
    """Every job queued while the writer is held, so they are committed as one group; what each caller got."""
    results: list[object] = [None] * len(jobs)
    writer = store.ingest_group
    sizes: list[int] = []
    commit = writer._commit

    def counting(group, mode):
        sizes.append(len(group))
        return commit(group, mode)

    writer._commit = counting

    def one(index: int, agent: str, events: list[dict]) -> None:
        try:
            results[index] = store.ingest(agent, events, 0.0, 1.8e9)
        except Exception as exc:  # the test looks at what each caller got
            results[index] = exc

    threads = [threading.Thread(target=one, args=(i, *job)) for i, job in enumerate(jobs)]
    with writer._lock:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(writer._queue) < len(jobs) and time.monotonic() < deadline:
            time.sleep(0.01)
    for thread in threads:
        thread.join(60)
    del writer._commit
    assert sizes and sizes[0] == len(jobs), f"not one group: {sizes}"
    return results


def test_concurrent_batches_are_each_stored_once_and_answered_exactly(store):
    jobs = [("web-01" if i % 2 else "web-02", [fim(i * 100 + j) for j in range(100)]) for i in range(16)]
    jobs.append(("web-02", [fim(5000 + j) for j in range(50)] * 2))  # each id twice in one batch
    jobs.append(("web-01", [fim(5000 + j) for j in range(50)]))      # the same ids, another agent: new
    results = run_concurrently(store, jobs)
    assert results[:16] == [(100, 0)] * 16
    assert results[16] == (50, 50) and results[17] == (50, 0)
    assert store.ingest("web-02", jobs[0][1], 0.0, 1.8e9) == (0, 100), "a batch already stored: all duplicates"
    assert store.query("SELECT COUNT(*) FROM events")[0][0] == 1700
    assert counter(store, "govwatch_events_ingested_total", kind="fim") == 1700
    assert counter(store, "govwatch_fim_changes_total", agent="web-01") == 850
    assert store.query("SELECT last_seen FROM agents WHERE name='web-01'")[0][0] == 1.8e9


def test_a_retried_batch_counts_nothing_twice(store):
    events = [fim(i) for i in range(30)]
    assert store.ingest("web-01", events, None, 1.8e9) == (30, 0)
    assert store.ingest("web-01", events + [fim(99)], None, 1.8e9) == (1, 30)
    assert counter(store, "govwatch_events_ingested_total", kind="fim") == 31


def test_a_batch_that_fails_for_its_own_sake_fails_alone(store, monkeypatch):
    real = ingest._insert_bulk

    def poisoned(conn, group, check):
        if any(batch.agent == "web-02" for batch in group):
            raise ValueError("this batch's own problem")
        return real(conn, group, check)

    monkeypatch.setattr(ingest, "_insert_bulk", poisoned)
    results = run_concurrently(store, [("web-01", [fim(i)]) for i in range(6)] + [("web-02", [fim(100)])])
    assert results[:6] == [(1, 0)] * 6
    assert isinstance(results[6], ValueError)
    assert store.query("SELECT COUNT(*) FROM events")[0][0] == 6


def test_a_store_that_cannot_write_fails_every_batch_of_the_group(store, monkeypatch):
    def full(conn, group, check):
        raise StoreUnavailable("the store cannot write: database or disk is full")

    monkeypatch.setattr(ingest, "_insert_bulk", full)
    results = run_concurrently(store, [("web-01", [fim(i)]) for i in range(4)])
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert store.query("SELECT COUNT(*) FROM events")[0][0] == 0


def test_a_race_on_a_shared_store_falls_back_to_the_exact_way(store, monkeypatch):
    """Another collector stored some of the ids between our SELECT and INSERT: counted once, by whoever stored."""
    store.ingest("web-01", [fim(1), fim(2)], None, 1.8e9)
    monkeypatch.setattr(ingest, "_stored_ids", lambda conn, group: set())  # the SELECT missed them
    assert store.ingest("web-01", [fim(1), fim(2), fim(3)], None, 1.8e9) == (1, 2)
    assert counter(store, "govwatch_events_ingested_total", kind="fim") == 3
    assert counter(store, "govwatch_fim_changes_total", agent="web-01") == 3
