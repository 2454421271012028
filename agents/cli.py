"""`govwatch agent ...`: enroll, check, run."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

from govwatch.agents.config import DEFAULT_CONFIG
from govwatch.cli import add_group
from govwatch.errors import GovwatchError


def register(groups: argparse._SubParsersAction) -> None:
    sub = add_group(groups, "agent", "run and set up the govwatch agent on a web server")
    enroll = sub.add_parser("enroll", help="register this agent with the collector and store its credentials",
                            description="Register with the collector using the enrollment key; writes this agent's "
                            "own credentials (mode 0600). The enrollment key is not stored.")
    enroll.add_argument("--collector", required=True, help="collector URL, e.g. https://collector:8443")
    key = enroll.add_mutually_exclusive_group(required=True)
    key.add_argument("--enroll-key", help="the collector's enrollment key")
    key.add_argument("--enroll-key-file", help="read the enrollment key from this file")
    enroll.add_argument("--name", required=True, help="this agent's name (lowercase, e.g. moc-web-01)")
    enroll.add_argument("--ministry", default="", help="ministry this server belongs to")
    enroll.add_argument("--ca-file", help="the collector's CA certificate (ca.pem) to verify TLS")
    enroll.add_argument("--out", default="agent-credentials.json", help="credentials file to write")
    enroll.set_defaults(func=_enroll)
    for name, func, text in (
            ("check", _check, "validate agent.yml and this host (paths, interface, capture, collector, "
             "credentials); print what would be watched (exit 0 ok, 2 a problem, one line each)"),
            ("run", _run, "run every configured watcher, spool events durably and ship them")):
        parser = sub.add_parser(name, help=text, description=text)
        parser.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"agent.yml (default {DEFAULT_CONFIG})")
        if name == "check":
            parser.add_argument("--offline", action="store_true",
                                help="skip the collector (reachability, TLS, credentials); check only this host")
        parser.set_defaults(func=func)


def _enroll(args: argparse.Namespace) -> int:
    import requests

    from govwatch import __version__
    from govwatch.netexplain import explain, scheme_problem
    from govwatch.secretfile import read_secret, write_secret

    key = read_secret(args.enroll_key_file, "enrollment key") if args.enroll_key_file else args.enroll_key
    problem = scheme_problem(args.collector)
    if problem:
        raise GovwatchError(f"--collector {problem}")
    verify: bool | str = args.ca_file or True
    if args.ca_file and not os.path.isfile(args.ca_file):
        raise GovwatchError(f"--ca-file {args.ca_file}: no such file")
    body = {"name": args.name, "enroll_key": key.strip(), "ministry": args.ministry,
            "hostname": platform.node(), "version": __version__}
    url = args.collector.rstrip("/") + "/api/v1/enroll"
    try:
        response = requests.post(url, json=body, timeout=20, verify=verify)
    except requests.RequestException as exc:
        raise GovwatchError(explain(args.collector, exc)) from None
    if response.status_code != 201:
        raise GovwatchError(_refusal(response, args.name))
    creds = response.json()
    creds.update(collector=args.collector, ca_file=os.path.abspath(args.ca_file) if args.ca_file else None)
    write_secret(args.out, json.dumps(creds, indent=2) + "\n")
    print(f"enrolled as {creds['agent']}; credentials written to {args.out} (mode 0600)")
    return 0


def _refusal(response: object, name: str) -> str:
    """The collector's reason for refusing an enrollment, with what to do for the usual ones."""
    status = getattr(response, "status_code", 0)
    try:
        reason = response.json().get("error", "")  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        reason = getattr(response, "text", "").strip()[:200]
    if status == 409:
        return (f"enrollment refused: the name {name!r} is already enrolled; choose another --name, or revoke "
                f"the old agent on the collector first (govwatch collector agents revoke {name})")
    if status == 403:
        return ("enrollment refused: wrong or rotated enrollment key; copy the current one from the "
                "collector's enroll-key file")
    return f"enrollment refused ({status}): {reason}"


def _check(args: argparse.Namespace) -> int:
    from govwatch.agents.base import load_watchers
    from govwatch.agents.checks import problems
    from govwatch.agents.config import credentials_warning, load_agent_config, watcher_sections

    cfg = load_agent_config(args.config)
    reached: list[str] = []
    found = problems(cfg, offline=args.offline, report=reached)
    if found:
        for line in found:
            sys.stderr.write(f"govwatch: {args.config}: {line}\n")
        return 2
    creds_path = cfg["collector"]["credentials"]
    network = "not contacted (--offline)" if args.offline else "answers and accepts the credentials"
    print(f"{args.config}: ok")
    urls = cfg["collector"].get("urls") or [cfg["collector"]["url"]]
    if len(urls) == 1:
        print(f"  agent {cfg['name']} ({cfg['ministry'] or 'no ministry set'}) -> {urls[0]} ({network})")
    else:
        print(f"  agent {cfg['name']} ({cfg['ministry'] or 'no ministry set'}) -> {len(urls)} collectors, "
              "failover in this order:")
        for index, url in enumerate(urls):
            print(f"    {index + 1}. {url}" + ("" if reached else " (not contacted: --offline)"))
        for line in reached:
            print(f"    {line}")
    print(f"  spool {cfg['spool']} (max {cfg['spool_max'] // 2**20} MiB), state {cfg['data_dir']}")
    print(f"  relative paths resolved against {os.path.dirname(os.path.realpath(args.config))}")
    warning = credentials_warning(creds_path)
    if warning:
        print(f"  warning: {warning}")
    registry = load_watchers()
    sections = watcher_sections(cfg)
    for name in sections:
        for line in registry[name].describe(cfg[name]):
            print(f"  {line}")
    off = [name for name in registry if name not in sections]
    if off:
        print(f"  off: {', '.join(off)} (no section in the config)")
    return 0


def _run(args: argparse.Namespace) -> int:
    from govwatch.agents.config import load_agent_config
    from govwatch.agents.runner import run

    return run(load_agent_config(args.config))
