"""The agent's `traffic` watcher: live capture on one interface, anomalies to the collector.

It must never hurt the server or the agent: without CAP_NET_RAW (or with a missing interface) it
logs one warning, sends one `agent` event (capture_unavailable) and stays idle while the other
watchers run; all its state is bounded; baselines are saved in the agent's data_dir.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
import time
from typing import Any

from govwatch.agents.base import Emit, register
from govwatch.events import Event
from govwatch.schema import Field

from . import fastpath
from . import rules as traffic_rules
from .capture import LiveCapture, interface_addresses, listening_ports
from .engine import Engine
from .packets import addr_key, decode_raw
from .tracker import Anomaly

log = logging.getLogger("govwatch.traffic")
DEFAULT_BPF = "ip or ip6"


def _addr(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"not an IP address: {value!r}"
    return None


def _bpf(value: str) -> str | None:
    return "must not contain newlines" if "\n" in value else None


SCHEMA = Field("map", fields={
    "interface": Field("str", required=True, doc="interface to capture on, e.g. eth0"),
    "bpf": Field("str", default=DEFAULT_BPF, check=_bpf, doc="kernel capture filter (tcpdump syntax)"),
    "home": Field("list", item=Field("str", check=_addr), default=[],
                  doc="extra protected addresses besides the interface's own (e.g. a VIP)"),
    "trusted": Field("list", item=Field("str", check=_addr), default=[],
                     doc="peers whose traffic is never analysed (backup server, the collector)"),
    "rules": Field("str", default=None, doc="traffic rules folder (default: installed rules/traffic)"),
    "snaplen": Field("int", default=2048, minimum=128, doc="bytes kept per packet (headers + request head)"),
    "buffer": Field("size", default=32 << 20, minimum=1 << 20,
                    doc="kernel receive buffer (the recv fallback, where no ring can be mapped)"),
    "ring": Field("size", default=8 << 20, minimum=2 << 20,
                  doc="TPACKET_V3 receive ring, mapped into the agent (counts in its RSS): 8 MiB holds ~0.5 s of "
                      "100k pkt/s; 32 MiB (~2 s) for servers that see such floods"),
    "max_sources": Field("int", default=50000, minimum=1000, doc="cap on sources tracked per second"),
    "baseline_file": Field("str", default=None, doc="where learned baselines persist (default data_dir)"),
})


def describe(cfg: dict[str, Any]) -> list[str]:
    return [f"traffic: capture on {cfg['interface']} (filter {cfg['bpf']!r}, snaplen {cfg['snaplen']}, "
            f"ring {cfg['ring'] // (1 << 20)} MiB), rules {cfg.get('rules') or 'installed'}"]


class TrafficWatcher:
    """Capture thread + engine; `stats()` gives packets, kernel_drops and active anomaly kinds."""

    name = "traffic"

    def __init__(self, cfg: dict[str, Any], agent_cfg: dict[str, Any], capture: LiveCapture | None = None,
                 clock=time.time) -> None:
        self.cfg = cfg
        self.rules = traffic_rules.load(cfg.get("rules"))
        self.capture = capture or LiveCapture(cfg["interface"], cfg["bpf"], cfg["snaplen"], cfg["buffer"],
                                                 cfg["ring"])
        self.clock = clock
        data_dir = agent_cfg.get("data_dir")
        self.baseline_file = cfg.get("baseline_file") or (
            os.path.join(data_dir, "traffic-baseline.json") if data_dir else None)
        self.trusted = {addr_key(a) for a in cfg.get("trusted", [])} | _collector_addresses(agent_cfg)
        self.engine: Engine | None = None
        self.unavailable: str | None = None
        self._emit: Emit | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._active: list[str] = []

    def start(self, emit: Emit) -> None:
        self._emit = emit
        self._thread = threading.Thread(target=self._run, name="govwatch-traffic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def stats(self) -> dict[str, Any]:
        engine = self.engine
        out: dict[str, Any] = {"packets": engine.packets if engine else 0, "kernel_drops": self.capture.kernel_drops,
                               "active": list(self._active), "capture": "unavailable" if self.unavailable else
                               ("running" if engine else "starting"),
                               "reader": getattr(self.capture, "reader", "recv")}
        if engine is not None:
            counts = engine.stats()
            out["sources_tracked"], out["evicted"] = counts["sources_tracked"], counts["evicted"]
        if self.unavailable:
            out["capture_problem"] = self.unavailable
        return out

    def _home(self) -> set[int | bytes]:
        return interface_addresses(self.cfg["interface"]) | {addr_key(a) for a in self.cfg.get("home", [])}

    def _run(self) -> None:
        try:
            self.capture.open()
        except Exception as exc:  # noqa: BLE001 - whatever the cause, the agent keeps running
            self._capture_unavailable(exc)
            return
        try:
            self._loop()
        except Exception:  # noqa: BLE001 - a bug here must not take the agent down
            log.exception("traffic watcher stopped after an unexpected error")
        finally:
            self._save_baseline()
            if self.engine is not None:
                self.engine.tracker.close_all()
            self.capture.close()

    def _capture_unavailable(self, exc: BaseException) -> None:
        denied = isinstance(exc, PermissionError) or "permitted" in str(exc)
        detail = (f"cannot capture on {self.cfg['interface']}: {exc} — run the agent with CAP_NET_RAW "
                  "(setcap cap_net_raw+ep, or AmbientCapabilities=CAP_NET_RAW in the systemd unit)" if denied
                  else f"cannot capture on {self.cfg['interface']}: {exc}")
        self.unavailable = detail
        log.warning("traffic watcher disabled: %s; the other watchers keep running", detail)
        if self._emit is not None:
            self._emit(Event("agent", {"problem": "capture_unavailable", "detail": detail, "watcher": "traffic"},
                             severity="medium", summary=f"traffic capture unavailable: {detail}"))

    def _loop(self) -> None:
        home = self._home()
        engine = Engine(self.rules, home, self._anomaly, listening=listening_ports,
                        max_sources=self.cfg["max_sources"], trusted=self.trusted)
        self._load_baseline(engine)
        engine.refresh_listening()
        self.engine = engine
        packet = engine.packet

        def handle(ts: float, linktype: int, frame: bytes) -> None:
            d = decode_raw(frame, linktype)
            if d is not None:
                packet(ts, frame, *d)

        def block(ring: Any, at: int, frames: int) -> None:
            fastpath.ring_block(engine, ring, at, frames, self.capture.linktype)

        blocks = getattr(self.capture, "read_blocks", None)
        last_refresh = last_save = self.clock()
        while not self._stop.is_set():
            if blocks is None or blocks(block, 0.5) is None:
                self.capture.read(handle, 0.5)
            now = self.clock()
            engine.advance(now)
            if now - last_refresh >= 30:
                last_refresh = now
                engine.refresh_listening()
                engine.home.update(self._home())
                self.capture.drops()
            if now - last_save >= 600:
                last_save = now
                self._save_baseline()
        self.capture.drops()

    def _anomaly(self, state: str, anomaly: Anomaly) -> None:
        if self.engine is not None:
            self._active = self.engine.tracker.active_kinds()
        if self._emit is None:
            return
        data = {"kind": anomaly.kind, "state": state, **anomaly.record()}
        data["kind"] = anomaly.kind
        severity = anomaly.severity if state == "start" else "info"
        prefix = "" if state == "start" else "ended: "
        self._emit(Event("traffic", data, severity=severity, summary=prefix + (anomaly.summary or anomaly.kind)))

    def _load_baseline(self, engine: Engine) -> None:
        if not self.baseline_file or not os.path.exists(self.baseline_file):
            return
        try:
            with open(self.baseline_file, encoding="utf-8") as handle:
                saved = json.load(handle)
            volume = engine.detector("volume_spike")
            if volume is not None:
                volume.load_baseline(saved)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("traffic baseline %s unreadable (%s); learning afresh", self.baseline_file, exc)

    def _save_baseline(self) -> None:
        engine = self.engine
        volume = engine.detector("volume_spike") if engine is not None else None
        if volume is None or not self.baseline_file:
            return
        data = volume.baseline()
        tmp = self.baseline_file + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.baseline_file)
        except OSError as exc:
            log.warning("cannot save traffic baseline %s: %s", self.baseline_file, exc)


def _collector_addresses(agent_cfg: dict[str, Any]) -> set[int | bytes]:
    """The collectors' addresses (if literal) are trusted: the agent's own uploads are not beaconing."""
    section = agent_cfg.get("collector") or {}
    trusted: set[int | bytes] = set()
    for url in section.get("urls") or [section.get("url") or ""]:  # every collector it may fail over to
        host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
        try:
            trusted.add(addr_key(str(ipaddress.ip_address(host))))
        except ValueError:
            continue
    return trusted


@register("traffic", schema=SCHEMA, describe=describe)
def factory(section: dict[str, Any], agent_cfg: dict[str, Any]) -> TrafficWatcher:
    return TrafficWatcher(section, agent_cfg)
