"""`govwatch collector ...`: init, run, check, agents, migrate, rotate-enroll-key."""

from __future__ import annotations

import argparse
import json
import os
import time

from govwatch.cli import add_group

DEFAULT_CONFIG = "/etc/govwatch/collector.yml"


def register(groups: argparse._SubParsersAction) -> None:
    sub = add_group(groups, "collector", "run and administer the govwatch collector")
    init = sub.add_parser("init", help="write collector.yml, a CA and server certificate, admin token, enroll key",
                          description="Create a collector data folder: collector.yml, ca.pem, server.pem, "
                          "server-key.pem, admin-token and enroll-key (secrets mode 0600).")
    init.add_argument("--data-dir", required=True, help="folder to create (e.g. /var/lib/govwatch)")
    init.add_argument("--listen", default="127.0.0.1:8443", help="HOST:PORT to write into collector.yml")
    init.add_argument("--san", action="append", default=[], help="extra DNS name or IP for the server certificate")
    init.add_argument("--force", action="store_true", help="replace an existing configuration and secrets")
    init.set_defaults(func=_init)
    for name, func, text in (("run", _run, "run the collector (API, console, /metrics, probes)"),
                             ("check", _check, "validate collector.yml, open every file it names and the store; "
                              "print what would run (exit 0 ok, 2 a problem, one line each)")):
        parser = sub.add_parser(name, help=text, description=text)
        parser.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"collector.yml (default {DEFAULT_CONFIG})")
        parser.set_defaults(func=func)
    agents = sub.add_parser("agents", help="list or revoke enrolled agents", description="list or revoke agents")
    agents.add_argument("action", choices=["list", "revoke"])
    agents.add_argument("name", nargs="?", help="agent to revoke")
    agents.add_argument("-c", "--config", default=DEFAULT_CONFIG)
    agents.set_defaults(func=_agents)
    migrate = sub.add_parser(
        "migrate", help="copy the SQLite store into PostgreSQL (then set store: in collector.yml)",
        description="Copy every table of the SQLite store (data_dir/govwatch.db) into a PostgreSQL database in one "
        "transaction: the schema is created, identity sequences continue after the copied ids, row counts are "
        "verified. Stop the collector first. A target that already holds data is refused unless --force.")
    migrate.add_argument("--to", required=True, metavar="DSN", help="postgresql://user@host:port/database")
    migrate.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"collector.yml (default {DEFAULT_CONFIG})")
    migrate.add_argument("--force", action="store_true", help="replace the contents of a non-empty target")
    migrate.set_defaults(func=_migrate)
    rotate = sub.add_parser("rotate-enroll-key", help="replace the enrollment key (the old one stops working)",
                            description="Replace the enrollment key; enrolled agents are not affected.")
    rotate.add_argument("-c", "--config", default=DEFAULT_CONFIG)
    rotate.set_defaults(func=_rotate)


def _init(args: argparse.Namespace) -> int:
    from govwatch.collector.init import init_collector

    files = init_collector(args.data_dir, args.listen, args.san, args.force)
    print(f"collector initialised in {os.path.abspath(args.data_dir)}:")
    for path in files:
        print(f"  {path}")
    print(f"next: govwatch collector run -c {files[0]}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from govwatch.collector.config import load_config
    from govwatch.collector.service import run

    return run(load_config(args.config))


def _check(args: argparse.Namespace) -> int:
    import sys

    from govwatch.collector.checks import problems, store_line
    from govwatch.collector.config import load_config

    cfg = load_config(args.config)
    found = problems(cfg)
    for line in found:
        sys.stderr.write(f"govwatch: {args.config}: {line}\n")
    if found:
        return 2
    print(f"{args.config}: ok")
    print(f"  listen {cfg['listen']} ({'TLS' if cfg['tls'] else 'plain HTTP'}), store {store_line(cfg)[1]}")
    print(f"  relative paths resolved against {os.path.dirname(os.path.realpath(args.config))}")
    for site in cfg["sites"]:
        print(f"  site {site['name']}: {site['url']} every {site['interval']:g}s")
    from govwatch.collector.render.config import decide

    decision = decide(cfg)
    print(f"  {decision.line}")
    return 2 if decision.problem else 0


def _agents(args: argparse.Namespace) -> int:
    from govwatch.collector.config import db_path, load_config
    from govwatch.collector.store import Store
    from govwatch.errors import GovwatchError

    store = Store(db_path(load_config(args.config)))
    if args.action == "revoke":
        if not args.name:
            raise GovwatchError("collector agents revoke: name the agent to revoke")
        if not store.revoke_agent(args.name):
            raise GovwatchError(f"no active agent named {args.name!r}")
        print(f"agent {args.name} revoked: its credentials are refused from now on")
        return 0
    for row in store.active_agents():
        seen = "never" if row["last_seen"] is None else f"{time.time() - row['last_seen']:.0f}s ago"
        print(json.dumps({"agent": row["name"], "ministry": row["ministry"], "version": row["version"],
                          "last_seen": seen}))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from govwatch.collector.config import load_config
    from govwatch.collector.migrate import migrate
    from govwatch.collector.pg import redact

    source, counts = migrate(load_config(args.config), args.to, args.force)
    print(f"copied {sum(counts.values())} rows in {len(counts)} tables from {source} to {redact(args.to)} "
          f"(row counts verified)")
    print(f"next: set `store: {redact(args.to)}` in {args.config} and restart the collector")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from govwatch.collector.config import load_config
    from govwatch.collector.init import rotate_enroll_key

    cfg = load_config(args.config)
    rotate_enroll_key(cfg["enroll_key_file"])
    print(f"new enrollment key written to {cfg['enroll_key_file']}; the old key is refused from now on")
    return 0
