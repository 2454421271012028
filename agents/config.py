"""agent.yml: the strict schema (core keys plus one section per registered watcher) and loading."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from govwatch.agents.base import load_watchers
from govwatch.errors import ConfigError, GovwatchError
from govwatch.schema import Field, check_name, check_url, load_file, resolve_path

DEFAULT_CONFIG = "/etc/govwatch/agent.yml"

CORE_FIELDS = {
    "name": Field("str", required=True, check=check_name, doc="this agent's name (as enrolled)"),
    "ministry": Field("str", default="", doc="ministry the server belongs to"),
    "collector": Field("map", required=True, fields={
        "url": Field("str", required=True, check=check_url, doc="the collector, e.g. https://collector:8443"),
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
    cfg["config_file"] = os.path.abspath(path)
    cfg["spool"] = resolve_path(path, cfg["spool"])
    cfg["collector"]["credentials"] = resolve_path(path, cfg["collector"]["credentials"])
    cfg["collector"]["ca_file"] = resolve_path(path, cfg["collector"]["ca_file"])
    cfg["data_dir"] = resolve_path(path, cfg["data_dir"]) or os.path.join(os.path.dirname(cfg["spool"]),
                                                                           f"{cfg['name']}-state")
    if cfg["collector"]["ca_file"] and not os.path.isfile(cfg["collector"]["ca_file"]):
        raise ConfigError(path, "collector.ca_file", f"no such file: {cfg['collector']['ca_file']}")
    return cfg


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
