"""The agent's traffic watcher: strict config, anomalies as `traffic` events, and no crash without the
capability to sniff."""

from __future__ import annotations

import queue

import pytest
from traffic_frames import SERVER, ip4, udp

from govwatch.agents.traffic.watcher import SCHEMA, TrafficWatcher, describe
from govwatch.errors import ConfigError
from govwatch.schema import validate


class FakeCapture:
    """Stands in for the packet socket: hands out scripted frames, or refuses to open."""

    def __init__(self, frames=(), error: Exception | None = None) -> None:
        self.frames, self.error = list(frames), error
        self.kernel_drops = 3

    def open(self) -> None:
        if self.error:
            raise self.error

    def read(self, handler, timeout: float) -> int:
        batch, self.frames = self.frames[:2000], self.frames[2000:]
        for ts, frame in batch:
            handler(ts, 1, frame)
        return len(batch)

    def drops(self) -> int:
        return self.kernel_drops

    def close(self) -> None:
        pass


def make(tmp_path, capture, clock) -> TrafficWatcher:
    cfg = validate({"interface": "lo", "home": [SERVER]}, SCHEMA, "agent.yml")
    return TrafficWatcher(cfg, {"data_dir": str(tmp_path)}, capture=capture, clock=clock)


def test_config_is_strict() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        validate({"interface": "eth0", "snaplength": 9}, SCHEMA, "agent.yml")
    with pytest.raises(ConfigError, match="interface: is required"):
        validate({}, SCHEMA, "agent.yml")
    with pytest.raises(ConfigError, match="not an IP address"):
        validate({"interface": "eth0", "trusted": ["collector.example"]}, SCHEMA, "agent.yml")
    cfg = validate({"interface": "eth0", "buffer": "64MiB"}, SCHEMA, "agent.yml")
    assert cfg["buffer"] == 64 << 20 and "eth0" in describe(cfg)[0]
    assert cfg["ring"] == 8 << 20 and "ring 8 MiB" in describe(cfg)[0]


def test_without_capability_one_warning_event_and_keeps_running(tmp_path, caplog) -> None:
    events: queue.Queue = queue.Queue()
    watcher = make(tmp_path, FakeCapture(error=PermissionError(1, "Operation not permitted")), lambda: 0.0)
    watcher.start(events.put)
    event = events.get(timeout=5)
    watcher.stop()
    assert event.kind == "agent" and event.data["problem"] == "capture_unavailable"
    assert "CAP_NET_RAW" in event.data["detail"] and events.empty()
    assert watcher.stats()["capture"] == "unavailable" and watcher.stats()["packets"] == 0
    assert sum("traffic watcher disabled" in r.message for r in caplog.records) == 1


def test_flood_becomes_start_and_end_events(tmp_path) -> None:
    t0 = 1_700_000_000.0
    frames = [(t0 + n / 5000, udp("10.9.1.1", SERVER, 999, 53, b"x")) for n in range(5000)]
    now = [t0]

    def clock() -> float:
        now[0] += 2.0  # wall time moves on between reads; the flood is over after the first
        return now[0]

    events: queue.Queue = queue.Queue()
    watcher = make(tmp_path, FakeCapture(frames), clock)
    watcher.start(events.put)
    start = events.get(timeout=5)
    end = events.get(timeout=5)
    stats = watcher.stats()
    watcher.stop()
    assert (start.kind, start.data["state"], start.data["kind"]) == ("traffic", "start", "udp_flood")
    assert start.severity == "high" and start.data["dst"] == SERVER and start.summary
    assert (end.data["state"], end.data["kind"]) == ("end", "udp_flood")
    assert stats["packets"] == 5000 and stats["kernel_drops"] == 3 and "sources_tracked" in stats
    assert (tmp_path / "traffic-baseline.json").exists() and ip4(SERVER)
