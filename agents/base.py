"""The one small interface every watcher implements, and the registry the runner builds them from.

A watcher module registers itself with `@register("fim", schema=FIELD)`: the name is its section in
agent.yml (a section left out is a watcher switched off), the schema validates that section strictly.
The runner calls `factory(section, agent_config)` and then `start(emit)`; `emit` puts an Event on the
durable spool and never blocks for the network. `emit(event, Receipt(sink, key))` also asks to hear the
event's fate: the spool writer calls `sink.settle([key, ...], ok)` once per written batch, ok=True when
the events are on disk, False when the spool could not take them (see runner.py). A watcher that keeps
state (the FIM baseline) moves it only on ok=True; an optional `resync()` is called when the spool
takes writes again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from govwatch.events import Event  # noqa: F401  (the type emit takes)
from govwatch.schema import Field

Emit = Callable[..., None]  # emit(event: Event) or emit(event: Event, receipt: Receipt)


class Receipt(NamedTuple):
    """Hand this with an event to hear whether it became durable: `sink.settle(keys, ok)`."""

    sink: Any
    key: Any


class Watcher(Protocol):
    """A running source of events."""

    name: str

    def start(self, emit: Emit) -> None:
        """Begin watching in background threads; return at once."""

    def stop(self) -> None:
        """Stop and join every thread started; idempotent."""

    def stats(self) -> dict[str, Any]:
        """Numbers for the heartbeat (e.g. watched_files, packets, drops): cheap, no I/O."""


@dataclass(frozen=True)
class WatcherSpec:
    name: str
    schema: Field
    factory: Callable[[dict[str, Any], dict[str, Any]], Watcher]
    describe: Callable[[dict[str, Any]], list[str]]


REGISTRY: dict[str, WatcherSpec] = {}


def register(name: str, schema: Field, describe: Callable[[dict[str, Any]], list[str]] | None = None):
    """Class/function decorator adding a watcher factory under its agent.yml section name."""

    def wrap(factory: Callable[[dict[str, Any], dict[str, Any]], Watcher]):
        REGISTRY[name] = WatcherSpec(name, schema, factory, describe or (lambda cfg: [f"{name}: on"]))
        return factory

    return wrap


def load_watchers() -> dict[str, WatcherSpec]:
    """Import the watcher modules so they register; a missing optional module is skipped."""
    import importlib

    for module in ("govwatch.agents.fim.watcher", "govwatch.agents.defacement.watcher",
                   "govwatch.agents.traffic.watcher", "govwatch.agents.logs.watcher"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return REGISTRY
