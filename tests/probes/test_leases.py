"""Leases over a real store: one collector holds every site, several share them, a silent one loses its own."""

from __future__ import annotations

import pytest

from govwatch.collector.leases import Leases
from govwatch.collector.store import Store

SITES = [f"site-{i}" for i in range(10)]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    store = Store(str(tmp_path / "govwatch.db"))
    yield store
    store.close()


def test_one_collector_holds_every_site(store):
    leases = Leases(store, "c1", "net-a", SITES, ttl=45.0)
    assert leases.tick() == set(SITES)
    assert leases.tick() == set(SITES)  # renewing keeps them


def test_two_collectors_split_the_sites_without_overlap(store):
    clock = Clock()
    first, second = (Leases(store, name, name, SITES, ttl=30.0, clock=clock) for name in ("c1", "c2"))
    assert first.tick() == set(SITES)
    assert second.tick() == set()        # announced, but every site is leased: nothing free yet
    clock.now += 10
    held_first = first.tick()            # sees two live collectors: gives back above its share
    held_second = second.tick()
    assert len(held_first) == len(held_second) == 5
    assert held_first.isdisjoint(held_second) and held_first | held_second == set(SITES)
    clock.now += 10                      # a stable split: the next rounds move nothing
    assert (first.tick(), second.tick()) == (held_first, held_second)


def test_a_silent_collector_loses_its_sites_within_one_lease(store):
    clock = Clock()
    first, second = (Leases(store, name, name, SITES, ttl=30.0, clock=clock) for name in ("c1", "c2"))
    first.tick(), second.tick()
    clock.now += 10
    first.tick(), second.tick()
    assert len(second.held) == 5
    clock.now += 29                      # c1 stops renewing; its leases still run
    assert second.tick() == second.held and len(second.held) == 5
    clock.now += 1.5                     # c1's leases (renewed 30.5 s ago) and its announcement expired
    assert second.tick() == set(SITES)
    assert second.peers() == []


def test_a_clean_stop_hands_the_sites_back_at_once(store):
    clock = Clock()
    first, second = (Leases(store, name, name, SITES, ttl=30.0, clock=clock) for name in ("c1", "c2"))
    first.tick(), second.tick()
    first.release()
    assert second.tick() == set(SITES)


def test_a_collector_claims_only_sites_of_its_own_configuration(store):
    clock = Clock()
    first = Leases(store, "c1", "c1", SITES[:4], ttl=30.0, clock=clock)
    second = Leases(store, "c2", "c2", SITES, ttl=30.0, clock=clock)
    assert first.tick() == set(SITES[:4])
    assert second.tick() == set(SITES[4:])
    assert [p.name for p in first.peers()] == ["c2"] and first.peers()[0].vantage == "c2"
