"""agent.yml: the strict schema (core keys plus one section per registered watcher) and loading."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from govwatch.agents.base import load_watchers
from govwatch.errors import ConfigError, GovwatchError
from govwatch.schema import Field, check_name, check_url, load_file, load_yaml_lines, resolve_path

DEFAULT_CONFIG = "/etc/govwatch/agent.yml"

CORE_FIELDS = {
    "name": Field("str", required=True, check=check_name, doc="this agent's name (as enrolled)"),
    "ministry": Field("str", default="", doc="ministry the server belongs to"),
    "collector": Field("map", required=True, fields={
        "url": Field("any", required=True, check=lambda v: _url_shape(v),
                     doc="the collector, e.g. https://collector:8443, or a list of them (failover in order)"),
        "return_after": Field("duration", default=300.0, minimum=1.0, maximum=86400.0,
                              doc="after this long on a later URL, go back to the first once it is ready"),
        "credentials": Field("str", required=True, doc="file written by `govwatch agent enroll`"),
        "ca_file": Field("str", default=None, doc="CA certificate of the collector (ca.pem from collector init)"),
        "timeout": Field("duration", default=15.0, minimum=0.5, maximum=600.0, doc="per request to the collector"),
        "batch_size": Field("int", default=500, minimum=1, maximum=100_000, doc="most events per POST"),
        "max_backoff": Field("duration", default=10.0, minimum=0.5, maximum=3600.0, doc="longest wait between retries"),
    }),
    "spool": Field("str", default="/var/lib/govwatch/spool.db", doc="durable outbox (SQLite)"),
    "spool_max": Field("size", default=256 * 2**20, minimum=1 << 20, maximum=2**40,
                       doc="bound on the spool; oldest dropped, counted"),
    "data_dir": Field("str", default=None,
                      doc="watcher state (baselines, known-good copies, quarantine); default: NAME-state by the spool"),
    "heartbeat": Field("duration", default=10.0, minimum=1.0, maximum=3600.0,
                       doc="how often the agent reports it is alive"),
}


def schema() -> Field:
    fields = dict(CORE_FIELDS)
    for name, spec in load_watchers().items():
        fields[name] = spec.schema
    return Field("map", fields=fields)


def load_agent_config(path: str) -> dict[str, Any]:
    """Load agent.yml; resolve paths against its folder; make sure state folders can exist."""
    cfg = load_file(path, schema())
    cfg["collector"]["urls"] = collector_urls(path, cfg["collector"]["url"])
    cfg["collector"]["url"] = cfg["collector"]["urls"][0]
    cfg["config_file"] = os.path.abspath(path)
    cfg["spool"] = resolve_path(path, cfg["spool"])
    cfg["collector"]["credentials"] = resolve_path(path, cfg["collector"]["credentials"])
    cfg["collector"]["ca_file"] = resolve_path(path, cfg["collector"]["ca_file"])
    cfg["data_dir"] = resolve_path(path, cfg["data_dir"]) or os.path.join(os.path.dirname(cfg["spool"]),
                                                                           f"{cfg['name']}-state")
    if cfg["collector"]["ca_file"] and not os.path.isfile(cfg["collector"]["ca_file"]):
        raise ConfigError(path, "collector.ca_file", f"no such file: {cfg['collector']['ca_file']}")
    return cfg


MAX_URLS = 8


def _url_shape(value: object) -> str | None:
    """The type check: one URL string or a non-empty list of them (each URL is checked with its line later)."""
    if isinstance(value, str):
        return None if value.strip() else "must not be empty"
    if isinstance(value, list):
        if not value:
            return "must be a URL or a non-empty list of URLs"
        if len(value) > MAX_URLS:
            return f"at most {MAX_URLS} collector URLs (got {len(value)})"
        return None
    return f"must be a URL or a list of URLs (got {type(value).__name__})"


def collector_urls(path: str, value: str | list[object]) -> list[str]:
    """The collector URLs in order of preference: each validated, a repeat refused at its own line."""
    items = [value] if isinstance(value, str) else value
    lines = load_yaml_lines(path)[1]
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        where = ("collector", "url", index) if isinstance(value, list) else ("collector", "url")
        key, line = f"collector.url[{index}]" if isinstance(value, list) else "collector.url", lines.get(where)
        if not isinstance(item, str):
            raise ConfigError(path, key, f"must be a URL string (got {type(item).__name__})", line)
        problem = check_url(item.strip())
        if problem:
            raise ConfigError(path, key, problem, line)
        normal = item.strip().rstrip("/")
        if normal.lower() in seen:
            raise ConfigError(path, key, f"{normal} is listed twice (also collector.url[{seen[normal.lower()]}]); "
                              "keep one", line)
        seen[normal.lower()] = index
    return [str(item).strip().rstrip("/") for item in items]


def watcher_sections(cfg: dict[str, Any]) -> list[str]:
    """Watchers switched on: every registered section present in the config."""
    return [name for name in load_watchers() if cfg.get(name) is not None]


def read_credentials(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            creds = json.load(handle)
    except OSError as exc:
        raise GovwatchError(f"cannot read agent credentials {path}: {exc.strerror} "
                            "(run `govwatch agent enroll` first)") from None
    except ValueError:
        raise GovwatchError(f"agent credentials {path} are not valid JSON (enroll again)") from None
    if not isinstance(creds, dict) or not isinstance(creds.get("token"), str):
        raise GovwatchError(f"agent credentials {path} have no token (enroll again)")
    return creds


def credentials_warning(path: str) -> str | None:
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        return f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
    return None
