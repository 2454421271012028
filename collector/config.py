"""collector.yml: its strict schema, loading, and the paths derived from it."""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

from govwatch.collector.render.config import RENDER, SITE_RENDER
from govwatch.errors import ConfigError
from govwatch.schema import Field, check_name, check_url, load_file, resolve_path


def check_listen(value: str) -> str | None:
    try:
        split_listen(value)
    except ValueError as exc:
        return str(exc)
    return None


def split_listen(value: str) -> tuple[str, int]:
    """Return (host, port) for `HOST:PORT` or `[v6]:PORT`."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"must be HOST:PORT (got {value!r})")
    return host.strip("[]") or "0.0.0.0", int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_store(value: str) -> str | None:
    """`sqlite` or postgresql://user[:password]@host[:port]/database (validated here, connected by check)."""
    if value == "sqlite":
        return None
    if not value.startswith(("postgresql://", "postgres://")):
        return f"must be sqlite or postgresql://user@host:port/database (got {value[:80]!r})"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid postgresql:// URL ({exc})"
    if not parts.hostname:
        return "postgresql:// URL names no host (postgresql://user@host:port/database)"
    if not parts.path.strip("/") or "/" in parts.path.strip("/"):
        return "postgresql:// URL names no database (postgresql://user@host:port/database)"
    if port == 0:
        return "postgresql:// URL has port 0"
    return None


SITE = Field("map", fields={
    "name": Field("str", required=True, check=check_name, doc="label in metrics and reports"),
    "url": Field("str", required=True, check=check_url, doc="the page citizens open"),
    "ministry": Field("str", default="", doc="ministry the site belongs to (reports group by it)"),
    "interval": Field("duration", default=60.0, minimum=1.0, maximum=86400.0, doc="time between probes"),
    "timeout": Field("duration", default=10.0, minimum=0.1, maximum=300.0, doc="a probe slower than this fails"),
    "confirm_failures": Field("int", default=3, minimum=1, maximum=100,
                              doc="consecutive failed probes that confirm downtime"),
    "slow_threshold": Field("duration", default=3.0, maximum=300.0,
                            doc="probe duration above which the site counts as slow"),
    "expect_status": Field("list", item=Field("int", minimum=100, maximum=599), default=None,
                           doc="acceptable HTTP codes (default 200-399)"),
    "defacement": Field("bool", default=True, doc="judge the page with the defacement detector"),
    "verify_tls": Field("bool", default=True, doc="an unverifiable certificate makes the site down"),
    "web_root": Field("str", default=None, doc="agent:path of the site's files, to join FIM changes to incidents"),
    "render": SITE_RENDER,
})

MAINTENANCE = Field("map", fields={
    "site": Field("str", default=None, doc="site name; omit for a ministry-wide or global window"),
    "ministry": Field("str", default=None),
    "start": Field("str", required=True, doc="ISO time, e.g. 2026-10-04T22:00+07:00"),
    "end": Field("str", required=True),
    "reason": Field("str", default="planned maintenance"),
})

SCHEMA = Field("map", fields={
    "listen": Field("str", default="127.0.0.1:8443", check=check_listen, doc="HOST:PORT to serve on"),
    "data_dir": Field("str", default="/var/lib/govwatch", doc="the SQLite store and site profiles live here"),
    "store": Field("str", default="sqlite", check=check_store,
                   doc="sqlite (data_dir/govwatch.db) or postgresql://user@host:port/db, shared by collectors"),
    "tls": Field("map", default=None, fields={
        "cert": Field("str", required=True, doc="server certificate chain (PEM)"),
        "key": Field("str", required=True, doc="its private key (PEM, mode 0600)"),
        "ca": Field("str", default=None, doc="CA certificate handed to agents"),
    }, doc="omit for plain HTTP on loopback"),
    "allow_plain_http": Field("bool", default=False, doc="serve plain HTTP on a non-loopback address (not advised)"),
    "console_url": Field("str", default=None, check=check_url,
                         doc="the console's address as staff open it, e.g. https://govwatch.nida.gov.kh:8443 "
                             "(links to incidents and screenshots in reports)"),
    "admin_token_file": Field("str", default="admin-token", doc="admin API token; creates the first console admin"),
    "enroll_key_file": Field("str", default="enroll-key", doc="key agents enroll with (rotate-enroll-key)"),
    "sites": Field("list", item=SITE, default=[], doc="sites probed from outside (uptime, TLS, defacement)"),
    "maintenance": Field("list", item=MAINTENANCE, default=[], doc="windows excluded from availability"),
    "limits": Field("map", default={}, fields={
        "max_body": Field("size", default=8 * 2**20, minimum=1024, maximum=2**30,
                          doc="largest accepted request body (413 above)"),
        "max_batch": Field("int", default=5000, minimum=1, maximum=100_000, doc="most events in one POST"),
        "agent_events_per_second": Field("float", default=2000.0, minimum=1.0, maximum=1e6),
        "agent_burst": Field("int", default=50000, minimum=1, maximum=10**7),
        "threads": Field("int", default=64, minimum=2, maximum=1024, doc="request worker threads"),
        "request_timeout": Field("duration", default=10.0, minimum=0.1, maximum=3600.0,
                                 doc="longest wait for each read of a request"),
        "idle_timeout": Field("duration", default=5.0, minimum=0.1, maximum=3600.0,
                              doc="how long an idle keep-alive connection is kept"),
        "connections_per_ip": Field("int", default=48, minimum=1, maximum=100_000,
                                    doc="concurrent connections from one address"),
        "max_connections": Field("int", default=1000, minimum=2, maximum=1_000_000,
                                 doc="open connections from all addresses; beyond, the stalest one still sending "
                                 "its request is cut"),
        "min_rate": Field("size", default=8192, minimum=1, maximum=2**30,
                          doc="bytes per second a request body must at least move"),
        "clock_skew": Field("duration", default=300.0, minimum=1.0, maximum=365 * 86400.0,
                            doc="an agent clock further off than this has its events stored with the receive time "
                            "(and flagged)"),
        "min_free_disk": Field("size", default=64 * 2**20, maximum=2**50,
                               doc="/readyz says not ready below this much free space on the store's file system"),
        "probe_concurrency": Field("int", default=128, minimum=1, maximum=4096,
                                   doc="most site probes in flight at once (the pool grows with the work up to this; "
                                   "each holds a socket and up to 2 MiB of page)"),
    }),
    "retention": Field("map", default={}, fields={
        "events": Field("duration", default=180 * 86400.0, minimum=3600.0, maximum=20 * 365 * 86400.0,
                        doc="how long raw events are kept"),
        "probes": Field("duration", default=400 * 86400.0, minimum=3600.0, maximum=20 * 365 * 86400.0,
                        doc="how long probe history is kept (reports)"),
    }),
    "incidents": Field("map", default={}, fields={
        "join_window": Field("duration", default=600.0, maximum=86400.0,
                             doc="FIM changes this close to a defacement join it"),
        "resolve_after": Field("duration", default=900.0, minimum=1.0, maximum=30 * 86400.0,
                               doc="a traffic incident whose anomaly ended resolves after this long without news "
                               "(defacement and FIM wait for a person)"),
    }),
    "report": Field("map", default={}, fields={
        "target": Field("float", default=99.5, minimum=0.0, maximum=100.0, doc="availability target in percent"),
        "timezone": Field("str", default="Asia/Phnom_Penh"),
        "organisation": Field("str", default="National Institute of Digital Technology (NiDA), MPTC"),
    }),
    "render": RENDER,
    "name": Field("str", default=None, check=check_name,
                  doc="this collector's name among collectors sharing one store (default: the host name)"),
    "vantage": Field("str", default=None, check=check_name,
                     doc="label of this collector's network; a site is confirmed down only when two vantages "
                     "agree (default: the collector's name)"),
    "probing": Field("map", default={}, fields={
        "lease": Field("duration", default=45.0, minimum=1.0, maximum=3600.0,
                       doc="a collector holds each site it probes for this long and renews every third of it; "
                       "a dead collector's sites are taken over within 4/3 of it"),
        "confirm_timeout": Field("duration", default=30.0, minimum=1.0, maximum=3600.0,
                                 doc="how long to wait for another vantage's confirmation probe before "
                                 "confirming an outage alone"),
    }),
    "agent_silent_after": Field("duration", default=180.0, minimum=1.0, maximum=30 * 86400.0,
                                doc="an agent is silent after this long without events"),
})


def _check_sites(cfg: dict[str, Any], path: str) -> None:
    seen: set[str] = set()
    for index, site in enumerate(cfg["sites"]):
        if site["name"] in seen:
            raise ConfigError(path, f"sites[{index}].name", f"duplicate site name {site['name']!r}")
        seen.add(site["name"])


def load_config(path: str) -> dict[str, Any]:
    """Load collector.yml; resolve its relative paths against the file's folder."""
    cfg = load_file(path, SCHEMA)
    _check_sites(cfg, path)
    cfg["config_file"] = os.path.abspath(path)
    cfg["name"] = cfg["name"] or collector_name()
    cfg["vantage"] = cfg["vantage"] or cfg["name"]
    cfg["data_dir"] = resolve_path(path, cfg["data_dir"])
    for key in ("admin_token_file", "enroll_key_file"):
        cfg[key] = resolve_path(path, cfg[key])
    if cfg["tls"]:
        for key in ("cert", "key", "ca"):
            cfg["tls"][key] = resolve_path(path, cfg["tls"][key])
    host, _port = split_listen(cfg["listen"])
    if not cfg["tls"] and not is_loopback(host) and not cfg["allow_plain_http"]:
        raise ConfigError(path, "tls", f"is required when listening on {host} (not loopback); "
                          "set tls: {cert, key} or allow_plain_http: true")
    return cfg


def collector_name() -> str:
    """The host name as a valid collector name (characters check_name refuses become '-')."""
    import re
    import socket

    name = re.sub(r"[^a-z0-9_.-]", "-", socket.gethostname().lower()).strip("-_.")[:63]
    return name if check_name(name) is None else "collector"


def db_path(cfg: dict[str, Any]) -> str:
    """The collector's store: the SQLite file in data_dir, or the postgresql:// DSN of `store:`."""
    store = cfg.get("store", "sqlite")
    return store if store != "sqlite" else os.path.join(cfg["data_dir"], "govwatch.db")
