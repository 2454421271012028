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
- the group's events go in multi-row INSERT ... ON CONFLICT DO NOTHING statements (CHUNK rows each)
  instead of one statement per event; clocks, last-seen
  times and counters of the whole group are one statement each. Rows are serialised before the lock.
A duplicate id is one already stored, or repeated earlier in the same group. The INSERTs go first without
the SELECT (every id new is the usual case, and the look-up cost as much as the insert); if they stored
fewer rows than they carried, the group is rolled back and written again after the SELECT, and if even
that disagrees (another collector on a shared store stored some meanwhile), one event at a time, the old
exact way; a batch with a defacement event
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
from govwatch.collector.counters import Counts, bump

CHUNK = 2000         # rows per multi-row INSERT: 8 values each, under SQLite's 32,766 and PostgreSQL's 65,535
MAX_GROUP_EVENTS = 20_000  # events per group transaction: bounds how long one commit holds the writer
READS_EVENTS = frozenset({"defacement"})  # kinds whose handler reads the events table (see above)
COLUMNS = "agent, id, kind, severity, ts, received, summary, data"


class _Raced(Exception):
    """The multi-row INSERT stored fewer rows than expected: redo the group one event at a time."""


Row = tuple[Any, ...]


@dataclass
class Batch:
    """One POSTed batch waiting for its group's commit (its rows serialised before it queues)."""

    agent: str
    events: list[dict[str, Any]]
    skew: float | None
    now: float
    rows: list[Row] = field(default_factory=list)
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
        batch = Batch(agent, events, skew, now, [_row(agent, event, now) for event in events])
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
            results = self._commit_any(group)
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

    def _commit_any(self, group: list[Batch]) -> list[tuple[int, int]]:
        """Blind multi-row INSERTs first (all new: the usual case); if some rows were already stored (an agent
        re-sending after a failover), again after looking the ids up; if that still disagrees, event by event."""
        for mode in ("blind", "checked"):
            try:
                return self._commit(group, mode)
            except _Raced:
                continue
        return self._commit(group, "exact")

    def _commit(self, group: list[Batch], mode: str) -> list[tuple[int, int]]:
        counts: Counts = {}
        exact = mode == "exact" or any(event["kind"] in READS_EVENTS for batch in group for event in batch.events)
        with self.transaction() as conn:
            fresh = _insert_exact(conn, group, counts, self.joining) if exact else \
                _insert_bulk(conn, group, check=mode == "checked")
            if not exact:
                for batch, events in zip(group, fresh, strict=True):
                    for event in events:
                        incidents.apply(conn, batch.agent, event, batch.now, counts, self.joining)
            for events in fresh:
                _count_kinds(counts, events)
            _agents_seen(conn, group)
            upsert_counters(conn, counts)
        return [(len(events), len(batch.events) - len(events)) for batch, events in zip(group, fresh, strict=True)]


def _store_wide(exc: BaseException) -> bool:
    """A failure of the store itself (disk full, I/O): every batch of the group gets it, none is retried."""
    from govwatch.collector.store import StoreUnavailable

    return isinstance(exc, StoreUnavailable)


def _row(agent: str, event: dict[str, Any], now: float) -> Row:
    return (agent, event["id"], event["kind"], event["severity"], event["ts"], now, event["summary"],
            _DATA(event["data"]))


_DATA = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def _count_kinds(counts: Counts, events: list[dict[str, Any]]) -> None:
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event["kind"]] = kinds.get(event["kind"], 0) + 1
    for kind, n in kinds.items():
        bump(counts, "govwatch_events_ingested_total", float(n), kind=kind)


def _insert_bulk(conn: Any, group: list[Batch], check: bool) -> list[list[dict[str, Any]]]:
    """Every new event of the group in multi-row INSERTs (with `check`, after one look-up of the ids already
    stored); raises _Raced when the INSERTs stored fewer rows than that leaves."""
    stored = _stored_ids(conn, group) if check else set()
    seen: set[tuple[str, str]] = set()
    fresh: list[list[dict[str, Any]]] = []
    rows: list[Row] = []
    for batch in group:
        new = []
        for event, row in zip(batch.events, batch.rows, strict=True):
            key = (batch.agent, event["id"])
            if key in stored or key in seen:
                continue
            seen.add(key)
            new.append(event)
            rows.append(row)
        fresh.append(new)
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        values = ",".join(["(?,?,?,?,?,?,?,?)"] * len(chunk))
        cur = conn.execute(f"INSERT INTO events({COLUMNS}) VALUES {values} ON CONFLICT(agent, id) DO NOTHING",
                           [value for row in chunk for value in row])
        if cur.rowcount != len(chunk):
            raise _Raced(f"stored {cur.rowcount} of {len(chunk)} rows")
    return fresh


def _stored_ids(conn: Any, group: list[Batch]) -> set[tuple[str, str]]:
    """(agent, id) of the group's events already in the store: one SELECT per CHUNK ids (the primary key
    serves each `agent = ? AND id IN (...)` term)."""
    wanted = [(batch.agent, event["id"]) for batch in group for event in batch.events]
    found: set[tuple[str, str]] = set()
    for start in range(0, len(wanted), CHUNK):
        by_agent: dict[str, list[str]] = {}
        for agent, event_id in wanted[start:start + CHUNK]:
            by_agent.setdefault(agent, []).append(event_id)
        terms = " OR ".join(f"(agent = ? AND id IN ({','.join('?' * len(ids))}))" for ids in by_agent.values())
        params = [value for agent, ids in by_agent.items() for value in (agent, *ids)]
        found.update((row[0], row[1]) for row in conn.execute(f"SELECT agent, id FROM events WHERE {terms}",
                                                              params).fetchall())
    return found


def _insert_exact(conn: Any, group: list[Batch], counts: Counts,
                  joining: incidents.Joining) -> list[list[dict[str, Any]]]:
    """The exact way: one INSERT per event, in order, each applied to state before the next is stored."""
    seen: set[tuple[str, str]] = set()
    fresh = []
    for batch in group:
        new = []
        for event, row in zip(batch.events, batch.rows, strict=True):
            key = (batch.agent, event["id"])
            if key in seen:
                continue
            cur = conn.execute(f"INSERT INTO events({COLUMNS}) VALUES (?,?,?,?,?,?,?,?) "
                               "ON CONFLICT(agent, id) DO NOTHING", row)
            if cur.rowcount:
                seen.add(key)
                new.append(event)
                incidents.apply(conn, batch.agent, event, batch.now, counts, joining)
        fresh.append(new)
    return fresh


def _agents_seen(conn: Any, group: list[Batch]) -> None:
    """Each agent's last-seen time and measured clock skew (its latest batch of the group), two statements."""
    latest = {batch.agent: batch for batch in group}
    names = list(latest)
    cases = " ".join("WHEN ? THEN ?" for _ in names)
    conn.execute(f"UPDATE agents SET last_seen = CASE name {cases} END WHERE name IN ({','.join('?' * len(names))})",
                 [value for name in names for value in (name, latest[name].now)] + names)
    clocks = [(name, b.skew, b.now) for name, b in latest.items() if b.skew is not None]
    if clocks:
        conn.execute(f"INSERT INTO agent_clock(agent, skew, measured) VALUES {','.join(['(?,?,?)'] * len(clocks))} "
                     "ON CONFLICT(agent) DO UPDATE SET skew = excluded.skew, measured = excluded.measured",
                     [value for clock in clocks for value in clock])


def upsert_counters(conn: Any, counts: Counts) -> None:
    """A group's counter increments in one multi-row upsert (counters.add_counters does one per key)."""
    if not counts:
        return
    values = ",".join(["(?,?,?)"] * len(counts))
    conn.execute(f"INSERT INTO counters(name, labels, value) VALUES {values} "
                 "ON CONFLICT(name, labels) DO UPDATE SET value = counters.value + excluded.value",
                 [value for (name, labels), n in counts.items() for value in (name, labels, n)])
