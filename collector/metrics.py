"""/metrics built from the store at scrape time (a custom collector, no state kept between scrapes).

Counters live in the store, so they survive a collector restart; a revoked agent or a site removed from
collector.yml simply stops being exported. Labels stay low-cardinality: no paths, IPs, URLs or hashes.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from govwatch import __version__
from govwatch.collector import badrows
from govwatch.collector.badrows import agent_status, number
from govwatch.collector.store import Store
from govwatch.event_kinds import REGISTRY, choices
from govwatch.event_specs import SITE
from govwatch.events import FIM_CHANGES

log = logging.getLogger("govwatch.collector.metrics")
SITES_PER_AGENT = 20  # series budget: sites an agent reports that collector.yml does not name

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
        for group in (lambda: self._agents(agents), lambda: self._counters(set(agents)), self._sites,
                      lambda: self._defacement(set(agents)), lambda: self._traffic(agents), self._incidents,
                      lambda: self._clock(set(agents)), self._renders):
            try:
                yield from list(group())
            except Exception as exc:  # one bad group must not cost the whole fleet its metrics
                log.exception("a metrics group failed")
                badrows.note("", "metrics", exc)
        skipped = CounterMetricFamily("govwatch_bad_rows_skipped", "Stored rows /metrics or the console skipped "
                                      "because they lack the expected shape or exceed the agent's series budget "
                                      "(since collector start; agent empty when the row has none)",
                                      labels=["agent"])
        per_agent = {name: 0 for name in agents}
        for (agent, _where), n in badrows.counts().items():
            key = agent if agent in agents else ""
            per_agent[key] = per_agent.get(key, 0) + n
        for agent, n in sorted(per_agent.items()):
            skipped.add_metric([agent], n)
        yield skipped
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
            info.add_metric([name, str(row["ministry"] or ""), str(row["version"] or "")], 1)
            if number(row["last_seen"]) is not None:
                seen.add_metric([name], float(row["last_seen"]))
            status = agent_status(row)
            fim = _dict(_dict(status.get("stats")).get("fim"))
            _add(watched, name, fim, "watched_files")
            if "spool_backlog" in status and _add(backlog, name, status, "spool_backlog"):
                _add(dropped, name, {"spool_dropped": status.get("spool_dropped", 0)}, "spool_dropped")
        yield from (info, seen, watched, backlog, dropped)

    def _counters(self, agents: set[str]) -> Iterator[Metric]:
        allowed = {"agent": agents, "change": set(FIM_CHANGES), "severity": set(SEVERITIES)}
        kinds = {"govwatch_events_ingested_total": set(REGISTRY),
                 "govwatch_traffic_anomalies_total": set(choices("traffic", "kind"))}
        for name, (help_text, labels) in COUNTERS.items():
            family = CounterMetricFamily(name[: -len("_total")], help_text, labels=list(labels))
            bounded = {**allowed, "kind": kinds[name]} if name in kinds else allowed
            values: dict[tuple[str, ...], float] = {}
            for lv, value in self.store.counters(name):
                if not isinstance(lv, dict) or number(value) is None:
                    badrows.note("", "counter", name)
                    continue
                if "agent" in lv and lv["agent"] not in agents:
                    continue  # a revoked agent simply stops being exported
                if any(k in bounded and lv.get(k) not in bounded[k] for k in labels):
                    badrows.note(lv.get("agent", ""), "counter", f"{name} {lv}")
                    continue
                values[tuple(str(lv.get(k, "")) for k in labels)] = float(value)
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
                if row[column] is None:
                    continue
                if number(row[column]) is None:
                    badrows.note("", "site_state", f"{row['site']}.{column}")
                    continue
                family.add_metric([row["site"]], float(row[column]))
        yield from (info, maint, *fams.values())
        yield self._vantages(sites)

    def _vantages(self, sites: dict[str, Any]) -> Metric:
        """Each vantage's last view of each site (collector networks, and 'inside' = the site's own agent)."""
        family = GaugeMetricFamily("govwatch_site_vantage_up", "1 if the site answered this vantage's last probe "
                                   "(vantage: a collector's network, or 'inside' for the agent on its server)",
                                   labels=["site", "vantage"])
        for row in self.store.query("SELECT site, vantage, up FROM site_vantage ORDER BY site, vantage"):
            if row["site"] in sites:
                family.add_metric([row["site"], row["vantage"]], 1.0 if row["up"] else 0.0)
        return family

    def _defacement(self, agents: set[str]) -> Iterator[Metric]:
        """Configured sites always; sites only an agent reports, at most SITES_PER_AGENT per agent."""
        family = GaugeMetricFamily("govwatch_defacement_detected", "1 while the agent's or the collector's view of "
                                   "the site is defaced", labels=["site"])
        configured = {s["name"] for s in self.cfg["sites"]}
        state: dict[str, int] = {name: 0 for name in configured}
        extra: dict[str, set[str]] = {}
        for row in self.store.query("SELECT site, source, defaced FROM defacement_state ORDER BY site"):
            site, source = row["site"], row["source"]
            if source in ("collector", "render") and site not in configured:
                continue
            if source not in ("collector", "render") and source not in agents:
                continue
            if not isinstance(site, str) or not re.fullmatch(SITE, site) or number(row["defaced"]) is None:
                badrows.note(source, "defacement_state", site)
                continue
            if site not in configured:
                own = extra.setdefault(source, set())
                if site not in own and len(own) >= SITES_PER_AGENT:
                    badrows.note(source, "series_budget", site)
                    continue
                own.add(site)
            state[site] = max(state.get(site, 0), 1 if row["defaced"] else 0)
        for site, value in sorted(state.items()):
            family.add_metric([site], value)
        yield family

    def _traffic(self, agents: dict[str, Any]) -> Iterator[Metric]:
        packets = CounterMetricFamily("govwatch_traffic_packets", "Packets seen by the agent's traffic watcher",
                                      labels=["agent"])
        drops = CounterMetricFamily("govwatch_traffic_kernel_drops", "Packets the kernel dropped before the watcher "
                                    "read them", labels=["agent"])
        for name, row in agents.items():
            stats = _dict(_dict(agent_status(row).get("stats")).get("traffic"))
            if "packets" in stats and _add(packets, name, stats, "packets"):
                _add(drops, name, {"kernel_drops": stats.get("kernel_drops", 0)}, "kernel_drops")
        active = GaugeMetricFamily("govwatch_traffic_anomaly_active", "1 while an anomaly of this kind is ongoing",
                                   labels=["agent", "kind"])
        known = set(choices("traffic", "kind"))
        for row in self.store.query("SELECT agent, kind FROM traffic_active ORDER BY agent, kind"):
            if row["agent"] not in agents:
                continue
            if row["kind"] not in known:
                badrows.note(row["agent"], "traffic_active", row["kind"])
                continue
            active.add_metric([row["agent"], row["kind"]], 1)
        yield from (packets, drops, active)

    def _incidents(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("govwatch_incidents_open", "Incidents not yet resolved", labels=["severity"])
        counts = {s: 0 for s in SEVERITIES}
        for row in self.store.query("SELECT severity, COUNT(*) AS n FROM incidents WHERE status!='resolved' "
                                    "GROUP BY severity"):
            if row["severity"] in counts:
                counts[row["severity"]] = row["n"]
            else:
                badrows.note("", "incidents", row["severity"])
        for severity in SEVERITIES:
            family.add_metric([severity], counts[severity])
        yield family

    def _clock(self, agents: set[str]) -> Iterator[Metric]:
        family = GaugeMetricFamily("govwatch_agent_clock_skew_seconds", "Agent clock minus collector clock, "
                                   "measured at the agent's last batch (positive: the agent is ahead)",
                                   labels=["agent"])
        for row in self.store.query("SELECT agent, skew FROM agent_clock ORDER BY agent"):
            if row["agent"] in agents and number(row["skew"]) is not None:
                family.add_metric([row["agent"]], float(row["skew"]))
        yield family

    def _renders(self) -> Iterator[Metric]:
        from govwatch.collector.render.storage import last_renders

        duration = GaugeMetricFamily("govwatch_site_render_duration_seconds", "Duration of the last render in "
                                     "headless Chromium", labels=["site"])
        difference = GaugeMetricFamily("govwatch_site_render_visual_difference_ratio", "Share of the last "
                                       "screenshot differing from the nearest known-good render", labels=["site"])
        configured = {s["name"] for s in self.cfg["sites"]}
        for row in last_renders(self.store):
            if row["site"] in configured and number(row["duration"]) is not None:
                duration.add_metric([row["site"]], float(row["duration"]))
                if number(row["visual_difference"]) is not None:
                    difference.add_metric([row["site"]], float(row["visual_difference"]))
        yield from (duration, difference)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _add(family: Metric, agent: str, values: dict[str, Any], key: str) -> bool:
    """Add values[key] for `agent` if it is a number; count the row as bad when it is present but is not."""
    if key not in values:
        return False
    value = number(values[key])
    if value is None:
        badrows.note(agent, "heartbeat", f"{key}={values[key]!r}")
        return False
    family.add_metric([agent], value)
    return True


def metrics_renderer(collector: StoreCollector) -> Callable[[], bytes]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return lambda: generate_latest(registry)

