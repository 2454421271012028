"""Writing event batches into the store: group commit, and few statements per batch.

Where a batch's time went (profiled under bench/ingest.py, README "Ingest speed"): not in fsync (SQLite
commits thousands of fsynced transactions a second here) but in the write lock. Each batch held it for
one INSERT per event, and sqlite3 releases the GIL around every statement: with dozens of request threads
decoding and validating, the writer waited up to a GIL switch interval (5 ms) to get the GIL back after
each of its 100 statements, while every other batch queued behind the lock.

So, with the durable acknowledgement unchanged (a batch is answered only after the transaction holding
its rows has committed):
- concurrent batches are committed together: the first thread to take the ingest lock writes every batch
  waiting at that moment in one transaction (one fsync), and each waiting thread answers its own agent
  once that commit returned;
- a batch's events go in one multi-row INSERT ... ON CONFLICT DO NOTHING (chunks of CHUNK rows) after one
  SELECT of the ids already stored, instead of one statement per event; counters of the whole group are
  one upsert per key.
A duplicate id is one already stored, or repeated earlier in the same group. If the INSERT stored fewer
rows than the SELECT left (another collector on a shared PostgreSQL stored some meanwhile), the group is
rolled back and written again one event at a time, the old exact way; a batch with a defacement event
takes that way too (joining a defacement to the FIM changes before it reads the events table, so its
rows must go in event by event, in order).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from govwatch.collector import incidents
from govwatch.collector.counters import Counts, add_counters, bump

CHUNK = 400          # rows per multi-row INSERT: 9 values each, well under SQLite's 32,766 variables
MAX_GROUP_EVENTS = 20_000  # events per group transaction: bounds how long one commit holds the writer
READS_EVENTS = frozenset({"defacement"})  # kinds whose handler reads the events table (see above)
COLUMNS = "agent, id, kind, severity, ts, received, summary, data"


class _Raced(Exception):
    """The multi-row INSERT stored fewer rows than expected: redo the group one event at a time."""


@dataclass
class Batch:
    """One POSTed batch waiting for its group's commit."""

    agent: str
    events: list[dict[str, Any]]
    skew: float | None
    now: float
    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[int, int] = (0, 0)
    error: BaseException | None = None


class GroupCommit:
    """Commits concurrent batches together; `submit` returns once the caller's batch is committed."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[Any]], joining: incidents.Joining) -> None:
        self.transaction, self.joining = transaction, joining
        self._lock = threading.Lock()       # held by the thread writing a group
        self._queue_lock = threading.Lock()
        self._queue: list[Batch] = []

    def submit(self, agent: str, events: list[dict[str, Any]], skew: float | None, now: float) -> tuple[int, int]:
        batch = Batch(agent, events, skew, now)
        with self._queue_lock:
            self._queue.append(batch)
        with self._lock:
            while not batch.done.is_set():  # ours is still queued: write the next group (ours among them)
                self._write(self._take())
        if batch.error is not None:
            raise batch.error
        return batch.result

    def _take(self) -> list[Batch]:
        with self._queue_lock:
            size, count = 0, 0
            for batch in self._queue:
                if count and size + len(batch.events) > MAX_GROUP_EVENTS:
                    break
                size, count = size + len(batch.events), count + 1
            group, self._queue = self._queue[:count], self._queue[count:]
        return group

    def _write(self, group: list[Batch]) -> None:
        """Commit the group; a failure that is one batch's own is retried alone so it fails only that batch."""
        try:
            try:
                results = self._commit(group, exact=False)
            except _Raced:
                results = self._commit(group, exact=True)
        except Exception as exc:
            if len(group) > 1 and not _store_wide(exc):
                for batch in group:
                    self._write([batch])
                return
            for batch in group:
                batch.error = exc
                batch.done.set()
            return
        for batch, result in zip(group, results, strict=True):
            batch.result = result
            batch.done.set()

    def _commit(self, group: list[Batch], exact: bool) -> list[tuple[int, int]]:
        counts: Counts = {}
        seen: set[tuple[str, str]] = set()
        with self.transaction() as conn:
            results = [write_batch(conn, batch, counts, seen, self.joining, exact) for batch in group]
            for agent, now in {b.agent: b.now for b in group}.items():
                conn.execute("UPDATE agents SET last_seen=? WHERE name=?", (now, agent))
            add_counters(conn, counts)
        return results


def _store_wide(exc: BaseException) -> bool:
    """A failure of the store itself (disk full, I/O): every batch of the group gets it, none is retried."""
    from govwatch.collector.store import StoreUnavailable

    return isinstance(exc, StoreUnavailable)


def write_batch(conn: Any, batch: Batch, counts: Counts, seen: set[tuple[str, str]], joining: incidents.Joining,
                exact: bool) -> tuple[int, int]:
    """Insert one batch's new events and apply them to state; (accepted, duplicates)."""
    agent, now = batch.agent, batch.now
    if batch.skew is not None:
        conn.execute("INSERT INTO agent_clock(agent, skew, measured) VALUES (?,?,?) ON CONFLICT(agent) DO UPDATE "
                     "SET skew = excluded.skew, measured = excluded.measured", (agent, batch.skew, now))
    def apply(event: dict[str, Any]) -> None:
        kinds[event["kind"]] = kinds.get(event["kind"], 0) + 1
        incidents.apply(conn, agent, event, now, counts, joining)

    kinds: dict[str, int] = {}
    if exact or any(event["kind"] in READS_EVENTS for event in batch.events):
        fresh = _insert_one_by_one(conn, batch, seen, apply)
    else:
        fresh = _insert_together(conn, batch, seen)
        for event in fresh:
            apply(event)
    for kind, n in kinds.items():
        bump(counts, "govwatch_events_ingested_total", float(n), kind=kind)
    return len(fresh), len(batch.events) - len(fresh)


def _row(agent: str, event: dict[str, Any], now: float) -> tuple[Any, ...]:
    return (agent, event["id"], event["kind"], event["severity"], event["ts"], now, event["summary"],
            json.dumps(event["data"], ensure_ascii=False, separators=(",", ":")))


def _insert_together(conn: Any, batch: Batch, seen: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """New events in multi-row INSERTs after one look-up of the ids already stored."""
    stored = _stored_ids(conn, batch.agent, [event["id"] for event in batch.events])
    fresh = []
    for event in batch.events:
        key = (batch.agent, event["id"])
        if event["id"] in stored or key in seen:
            continue
        seen.add(key)
        fresh.append(event)
    for start in range(0, len(fresh), CHUNK):
        chunk = fresh[start:start + CHUNK]
        values = ",".join(["(?,?,?,?,?,?,?,?)"] * len(chunk))
        params = [value for event in chunk for value in _row(batch.agent, event, batch.now)]
        cur = conn.execute(f"INSERT INTO events({COLUMNS}) VALUES {values} ON CONFLICT(agent, id) DO NOTHING",
                           params)
        if cur.rowcount != len(chunk):
            raise _Raced(f"stored {cur.rowcount} of {len(chunk)} rows")
    return fresh


def _stored_ids(conn: Any, agent: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(row[0] for row in conn.execute(f"SELECT id FROM events WHERE agent=? AND id IN ({marks})",
                                                    [agent, *chunk]).fetchall())
    return found


def _insert_one_by_one(conn: Any, batch: Batch, seen: set[tuple[str, str]],
                       apply: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    """The exact way: one INSERT per event, in order, each applied to state before the next is stored."""
    fresh = []
    for event in batch.events:
        key = (batch.agent, event["id"])
        if key in seen:
            continue
        cur = conn.execute(f"INSERT INTO events({COLUMNS}) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(agent, id) "
                           "DO NOTHING", _row(batch.agent, event, batch.now))
        if cur.rowcount:
            seen.add(key)
            fresh.append(event)
            apply(event)
    return fresh
