"""`govwatch agent check`: does this config work on this machine, not just parse?

A config that validates can still watch nothing: a FIM path that is not there, a capture interface that
does not exist or cannot be opened by this user, a collector nobody answers on or that refuses the
credentials. Each such problem is one line `key: what is wrong; what to do`, so `check` exits 2 exactly
when `run` would let the sysadmin down.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from govwatch.errors import GovwatchError

ETH_P_ALL = 0x0003


def problems(cfg: dict[str, Any], offline: bool = False, report: list[str] | None = None) -> list[str]:
    """Every reality problem of a loaded agent config (empty when the agent will work as configured).

    `report`, when given, receives one line per collector URL reached (and warnings that are no problem)."""
    found: list[str] = []
    found += _credentials(cfg)
    found += _spool(cfg)
    if cfg.get("fim"):
        found += _fim_paths(cfg["fim"]) + _fim_response(cfg["fim"])
    if cfg.get("traffic"):
        found += _traffic(cfg["traffic"])
    if cfg.get("logs"):
        found += _logs(cfg["logs"])
    if not offline and not any(p.startswith("collector.credentials") for p in found):
        found += _collector(cfg["collector"], report)
    return found


def _credentials(cfg: dict[str, Any]) -> list[str]:
    from govwatch.agents.config import read_credentials

    try:
        read_credentials(cfg["collector"]["credentials"])
    except GovwatchError as exc:
        return [f"collector.credentials: {exc}"]
    return []


def _spool(cfg: dict[str, Any]) -> list[str]:
    folder = os.path.dirname(cfg["spool"])
    probe = folder
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if probe and not os.access(probe, os.W_OK | os.X_OK):
        return [f"spool: {folder} cannot be created or written by this user; run the agent as root or "
                "choose a writable folder"]
    return []


def _fim_paths(section: dict[str, Any]) -> list[str]:
    out = []
    for index, path in enumerate(section.get("paths") or []):
        key = f"fim.paths[{index}]"
        if not os.path.lexists(path):
            out.append(f"{key}: {path} does not exist; create it or remove it from fim.paths")
        elif os.path.isdir(path) and not os.access(path, os.R_OK | os.X_OK):
            out.append(f"{key}: {path} is not readable by this user; run the agent as root")
        elif not os.path.isdir(path) and not os.access(path, os.R_OK):
            out.append(f"{key}: {path} is not readable by this user; run the agent as root")
    return out


def _logs(section: dict[str, Any]) -> list[str]:
    """A log the agent cannot open is a silent watcher; a log not written yet is fine if its folder exists."""
    wanted = [(f"logs.access[{i}].path", entry["path"]) for i, entry in enumerate(section.get("access") or [])]
    if (section.get("auth") or {}).get("path"):
        wanted.append(("logs.auth.path", section["auth"]["path"]))
    out = []
    for key, path in wanted:
        if os.path.exists(path):
            if not os.access(path, os.R_OK):
                out.append(f"{key}: {path} is not readable by this user; run the agent as root")
        elif not os.path.isdir(os.path.dirname(path)):
            out.append(f"{key}: neither {path} nor its folder exists; check the web server's log location")
    return out


def _fim_response(section: dict[str, Any]) -> list[str]:
    """Automatic response may act only in web roots (the agent refuses to start otherwise)."""
    from govwatch.agents.fim.watcher import complete

    roots = complete(section)["web_roots"]
    return [f"fim.response[{i}].root: {rule['root']} is not one of fim.web_roots ({', '.join(roots) or 'none'}); "
            "automatic response acts only in web roots" for i, rule in enumerate(section.get("response") or [])
            if os.path.normpath(rule["root"]) not in roots]


def _traffic(section: dict[str, Any]) -> list[str]:
    name = section["interface"]
    try:
        socket.if_nametoindex(name)
    except OSError:
        known = ", ".join(sorted(n for _i, n in socket.if_nameindex())) or "none"
        return [f"traffic.interface: no interface named {name!r} on this host (it has: {known}); "
                "name one of them or remove the traffic section"]
    problem = _capture_problem(name)
    return [f"traffic.interface: {problem}; traffic watching would be off"] if problem else []


def _capture_problem(name: str) -> str | None:
    """Open (and close at once) the raw socket the capture needs: the only honest test of CAP_NET_RAW."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        return (f"this process cannot capture on {name} (needs root or CAP_NET_RAW); run the agent as root "
                "or with AmbientCapabilities=CAP_NET_RAW")
    except OSError as exc:
        return f"cannot open a capture socket on {name}: {exc.strerror}"
    try:
        sock.bind((name, 0))
    except OSError as exc:
        return f"cannot capture on {name}: {exc.strerror}"
    finally:
        sock.close()
    return None


def _collector(section: dict[str, Any], report: list[str] | None = None) -> list[str]:
    """Every collector URL answers over TLS with the CA given and accepts this agent's token.

    With several URLs (failover), one that nothing answers on is a warning in `report` while another one
    works (the agent would fail over); refused credentials or a URL that is not a collector are problems
    wherever they are, since failing over to that URL could never work."""
    urls = section.get("urls") or [section["url"]]
    results = [(index, url, *_reach(section, url)) for index, url in enumerate(urls)]
    single = len(urls) == 1
    working = any(kind == "ok" for _i, _u, kind, _t in results)
    found = []
    for index, url, kind, text in results:
        key = "collector.url" if single else f"collector.url[{index}]"
        line = text if text.startswith("collector.credentials") else f"{key}: {text}"
        if kind == "ok" or (kind == "down" and working):
            if report is not None:
                role = "preferred" if index == 0 else f"failover {index}"
                report.append(f"{url} ({role}): {text}" if kind == "ok" else
                              f"warning: {line} (while it is down the agent sends to the others)")
            continue
        found.append(line)
    return found


def _reach(section: dict[str, Any], url: str) -> tuple[str, str]:
    """('ok' | 'down' | 'wrong', what happened) for one collector URL and this agent's credentials."""
    import requests

    from govwatch.agents.config import read_credentials
    from govwatch.netexplain import explain

    url = url.rstrip("/")
    verify: bool | str = section.get("ca_file") or True
    token = read_credentials(section["credentials"])["token"]
    hint = "set collector.ca_file to the collector's ca.pem"
    try:
        answer = requests.get(f"{url}/api/v1/agent/whoami", headers={"Authorization": f"Bearer {token}"},
                              timeout=min(10.0, section["timeout"]), verify=verify)
    except requests.RequestException as exc:
        return "down", explain(url, exc, hint)
    if answer.status_code == 401:
        return "wrong", ("collector.credentials: the collector refuses these credentials (revoked, or enrolled "
                         "with another collector); enroll again with `govwatch agent enroll`")
    if answer.status_code == 404:
        return "wrong", (f"{url} answers but is not a govwatch collector (or an older one without "
                         "/api/v1/agent/whoami)")
    if answer.status_code != 200:
        return "down", f"{url} answered {answer.status_code} to the credentials check"
    return "ok", f"answered and accepts the credentials{_who(answer)}"


def _who(answer: Any) -> str:
    """Which collector process answered (behind a load balancer the URL alone does not say)."""
    try:
        who = answer.json().get("collector") or {}
    except (ValueError, AttributeError):
        return ""
    if not isinstance(who, dict) or not who.get("host"):
        return ""
    return f" (collector {str(who['host'])[:80]} listening on {str(who.get('listen', '?'))[:80]})"
