"""Hypothesis: hostile file names and event contents always reach the spool as valid UTF-8 JSON, losslessly.

Bounded runs (a few hundred examples, seconds of CI time); the derandomised profile keeps CI stable.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the test extras (pip install -e '.[test]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from govwatch.agents.fim.watcher import SCHEMA, FimWatcher  # noqa: E402
from govwatch.agents.paths import display, from_event  # noqa: E402
from govwatch.agents.spool import Spool  # noqa: E402
from govwatch.events import Event  # noqa: E402
from govwatch.schema import validate  # noqa: E402

from .conftest import RULES  # noqa: E402

NAME_BYTES = st.binary(min_size=1, max_size=60).filter(lambda b: b"/" not in b and b"\0" not in b
                                                       and b not in (b".", b".."))
HOSTILE_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=80) | \
    NAME_BYTES.map(os.fsdecode)
FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def test_hostile_file_names_round_trip_from_disk_to_spool() -> None:
    with tempfile.TemporaryDirectory() as work:
        root = os.path.join(work, "www")
        os.mkdir(root)
        section = validate({"paths": [root], "rules": RULES, "known_good": True}, SCHEMA, "agent.yml")
        events: list[Event] = []
        watcher = FimWatcher(section, {"data_dir": os.path.join(work, "data"), "name": "fuzz"}, realtime=False)
        watcher.start(events.append)
        assert watcher.ready.wait(10)
        spool = Spool(os.path.join(work, "spool.db"))
        engine = watcher.engine
        assert engine is not None

        @FUZZ
        @given(name=NAME_BYTES, content=st.binary(max_size=200))
        def one(name: bytes, content: bytes) -> None:
            path = os.fsdecode(os.path.join(os.fsencode(root), name))
            with open(os.fsencode(path), "wb") as handle:
                handle.write(content)
            events.clear()
            engine.reconcile(path)
            os.unlink(os.fsencode(path))
            engine.reconcile(path)
            assert [e.data["change"] for e in events if e.kind == "fim"][-1] == "deleted"
            assert spool.put(events) == 0
            for _, body in spool.peek(1000):
                data = json.loads(body.decode("utf-8"))["data"]  # strict UTF-8: raises on a lone surrogate
                if data.get("path") == display(path):
                    assert from_event(data, "path") == path  # lossless
                    if data.get("diff"):
                        assert display(path) in data["diff"]
            spool.ack([seq for seq, _ in spool.peek(1000)])

        try:
            one()
        finally:
            watcher.stop()
            spool.close()


def test_any_event_content_is_spooled_or_dead_lettered_never_stuck(tmp_path: Any) -> None:
    spool = Spool(str(tmp_path / "spool.db"))
    values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | HOSTILE_TEXT,
                          lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
                          max_leaves=20)

    @FUZZ
    @given(data=st.dictionaries(HOSTILE_TEXT, values, max_size=6), summary=HOSTILE_TEXT)
    def one(data: dict, summary: str) -> None:
        before_dead, before = spool.dead(), spool.backlog()
        buried = spool.put([Event("agent", data, "low", summary), Event("agent", {"ok": 1})])
        assert spool.backlog() - before + spool.dead() - before_dead == 2 and buried == spool.dead() - before_dead
        for _, body in spool.peek(10):
            json.loads(body.decode("utf-8"), parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
        spool.ack([seq for seq, _ in spool.peek(10)])

    one()
