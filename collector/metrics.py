"""/metrics built from the store at scrape time (a custom collector, no state kept between scrapes).

Counters live in the store, so they survive a collector restart; a revoked agent or a site removed from
collector.yml simply stops being exported. Labels stay low-cardinality: no paths, IPs, URLs or hashes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from govwatch import __version__
from govwatch.collector.store import Store
from govwatch.events import FIM_CHANGES

SEVERITIES = ("info", "low", "medium", "high", "critical")

# name -> (help, label names); counters come from the counters table.
COUNTERS = {
    "govwatch_events_ingested_total": ("Events accepted from agents (duplicates not counted)", ("kind",)),
    "govwatch_ingest_rejected_total": ("Requests or batches refused by the ingest API", ("reason",)),
    "govwatch_fim_changes_total": ("File integrity changes reported", ("agent", "change", "severity")),
    "govwatch_fim_overflows_total": ("inotify queue overflows or watch-limit hits (followed by a rescan)", ("agent",)),
    "govwatch_traffic_anomalies_total": ("Traffic anomalies started", ("agent", "kind")),
    "govwatch_incidents_total": ("Incidents opened", ("kind", "severity")),
    "govwatch_site_ip_changes_total": ("Times a site's address changed between probes", ("site",)),
    "govwatch_render_failures_total": ("Renders in headless Chromium that failed, by reason", ("reason",)),
}


class StoreCollector:
    """Yields every govwatch metric family from the store on each collect()."""

    def __init__(self, store: Store, cfg: dict[str, Any], clock: Callable[[], float] = time.time,
                 maintenance: Callable[[dict[str, Any], float], bool] | None = None) -> None:
        self.store, self.cfg, self.clock, self.maintenance = store, cfg, clock, maintenance

    def collect(self) -> Iterator[Metric]:
        agents = {row["name"]: row for row in self.store.active_agents()}
        yield from self._agents(agents)
        yield from self._counters(set(agents))
        yield from self._sites()
        yield from self._defacement(set(agents))
        yield from self._traffic(agents)
        yield from self._incidents()
        yield from self._renders()
        info = GaugeMetricFamily("govwatch_collector_info", "Collector build information", labels=["version"])
        info.add_metric([__version__], 1)
        yield info

    def _agents(self, agents: dict[str, Any]) -> Iterator[Metric]:
        info = GaugeMetricFamily("govwatch_agent_info", "Enrolled agent (always 1)",
                                 labels=["agent", "ministry", "version"])
        seen = GaugeMetricFamily("govwatch_agent_last_seen_timestamp_seconds", "Last request from the agent",
                                 labels=["agent"])
        watched = GaugeMetricFamily("govwatch_fim_watched_files", "Files under integrity watch", labels=["agent"])
        backlog = GaugeMetricFamily("govwatch_agent_spool_backlog", "Events waiting in the agent's spool",
                                    labels=["agent"])
        dropped = CounterMetricFamily("govwatch_agent_spool_dropped", "Events the agent dropped because its spool "
                                      "was full", labels=["agent"])
        for name, row in agents.items():
            info.add_metric([name, row["ministry"], row["version"]], 1)
            if row["last_seen"] is not None:
                seen.add_metric([name], row["last_seen"])
            status = json.loads(row["status"] or "{}")
            stats = status.get("stats", {})
            if "watched_files" in stats.get("fim", {}):
                watched.add_metric([name], float(stats["fim"]["watched_files"]))
            if "spool_backlog" in status:
                backlog.add_metric([name], float(status["spool_backlog"]))
                dropped.add_metric([name], float(status.get("spool_dropped", 0)))
        yield from (info, seen, watched, backlog, dropped)

    def _counters(self, agents: set[str]) -> Iterator[Metric]:
        for name, (help_text, labels) in COUNTERS.items():
            family = CounterMetricFamily(name[: -len("_total")], help_text, labels=list(labels))
            values = {tuple(lv.get(k, "") for k in labels): value for lv, value in self.store.counters(name)
                      if "agent" not in lv or lv["agent"] in agents}
            if name == "govwatch_render_failures_total":
                from govwatch.collector.render.storage import FAILURE_REASONS

                for reason in FAILURE_REASONS:   # a bounded set, each from 0 so increase() sees the first
                    values.setdefault((reason,), 0.0)
            if name == "govwatch_fim_changes_total":
                # Every agent x change x severity exists from 0, so increase() sees the first web shell.
                for agent in agents:
                    for change in FIM_CHANGES:
                        for severity in SEVERITIES:
                            values.setdefault((agent, change, severity), 0.0)
            for key, value in sorted(values.items()):
                family.add_metric(list(key), value)
            yield family

    def _sites(self) -> Iterator[Metric]:
        sites = {s["name"]: s for s in self.cfg["sites"]}
        fams = {
            "up": GaugeMetricFamily("govwatch_site_up", "1 if the last external probe succeeded", labels=["site"]),
            "duration": GaugeMetricFamily("govwatch_site_probe_duration_seconds", "Duration of the last probe",
                                          labels=["site"]),
            "cert_expiry": GaugeMetricFamily("govwatch_site_tls_cert_expiry_timestamp_seconds",
                                             "Expiry of the site's TLS certificate", labels=["site"]),
            "status": GaugeMetricFamily("govwatch_site_http_status_code", "HTTP status of the last probe",
                                        labels=["site"]),
            "cert_valid": GaugeMetricFamily("govwatch_site_tls_cert_valid", "1 if the certificate verified",
                                            labels=["site"]),
            "https_redirect": GaugeMetricFamily("govwatch_site_https_redirect", "1 if http:// redirects to https://",
                                                labels=["site"]),
        }
        info = GaugeMetricFamily("govwatch_site_info", "Configured site (always 1); agent is the one watching its "
                                 "web root, if any", labels=["site", "ministry", "agent"])
        maint = GaugeMetricFamily("govwatch_site_maintenance", "1 while a maintenance window is active",
                                  labels=["site"])
        now = self.clock()
        for name, site in sites.items():
            agent = (site.get("web_root") or "").partition(":")[0]
            info.add_metric([name, site.get("ministry") or "", agent], 1)
            active = bool(self.maintenance and self.maintenance(site, now))
            maint.add_metric([name], 1 if active else 0)
        for row in self.store.query("SELECT * FROM site_state"):
            if row["site"] not in sites:
                continue
            for column, family in fams.items():
                if row[column] is not None:
                    family.add_metric([row["site"]], float(row[column]))
        yield from (info, maint, *fams.values())

    def _defacement(self, agents: set[str]) -> Iterator[Metric]:
        family = GaugeMetricFamily("govwatch_defacement_detected", "1 while the agent's or the collector's view of "
                                   "the site is defaced", labels=["site"])
        configured = {s["name"] for s in self.cfg["sites"]}
        state: dict[str, int] = {name: 0 for name in configured}
        for row in self.store.query("SELECT site, source, defaced FROM defacement_state"):
            if row["source"] in ("collector", "render") and row["site"] not in configured:
                continue
            if row["source"] not in ("collector", "render") and row["source"] not in agents:
                continue
            state[row["site"]] = max(state.get(row["site"], 0), int(row["defaced"]))
        for site, value in sorted(state.items()):
            family.add_metric([site], value)
        yield family

    def _traffic(self, agents: dict[str, Any]) -> Iterator[Metric]:
        packets = CounterMetricFamily("govwatch_traffic_packets", "Packets seen by the agent's traffic watcher",
                                      labels=["agent"])
        drops = CounterMetricFamily("govwatch_traffic_kernel_drops", "Packets the kernel dropped before the watcher "
                                    "read them", labels=["agent"])
        for name, row in agents.items():
            stats = json.loads(row["status"] or "{}").get("stats", {}).get("traffic")
            if stats and "packets" in stats:
                packets.add_metric([name], float(stats["packets"]))
                drops.add_metric([name], float(stats.get("kernel_drops", 0)))
        active = GaugeMetricFamily("govwatch_traffic_anomaly_active", "1 while an anomaly of this kind is ongoing",
                                   labels=["agent", "kind"])
        for row in self.store.query("SELECT agent, kind FROM traffic_active"):
            if row["agent"] in agents:
                active.add_metric([row["agent"], row["kind"]], 1)
        yield from (packets, drops, active)

    def _incidents(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("govwatch_incidents_open", "Incidents not yet resolved", labels=["severity"])
        counts = {s: 0 for s in SEVERITIES}
        for row in self.store.query("SELECT severity, COUNT(*) AS n FROM incidents WHERE status!='resolved' "
                                    "GROUP BY severity"):
            counts[row["severity"]] = row["n"]
        for severity in SEVERITIES:
            family.add_metric([severity], counts[severity])
        yield family


    def _renders(self) -> Iterator[Metric]:
        from govwatch.collector.render.storage import last_renders

        duration = GaugeMetricFamily("govwatch_site_render_duration_seconds", "Duration of the last render in "
                                     "headless Chromium", labels=["site"])
        difference = GaugeMetricFamily("govwatch_site_render_visual_difference_ratio", "Share of the last "
                                       "screenshot differing from the nearest known-good render", labels=["site"])
        configured = {s["name"] for s in self.cfg["sites"]}
        for row in last_renders(self.store):
            if row["site"] in configured:
                duration.add_metric([row["site"]], float(row["duration"]))
                if row["visual_difference"] is not None:
                    difference.add_metric([row["site"]], float(row["visual_difference"]))
        yield from (duration, difference)


def metrics_renderer(collector: StoreCollector) -> Callable[[], bytes]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return lambda: generate_latest(registry)

