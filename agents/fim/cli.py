"""`govwatch fim scan|restore|quarantine`: the one-shot integrity scan and the known-good restore.

This module is imported at every `govwatch` start, so it imports nothing heavy at the top: each
handler pulls in what it needs (the scan path never loads watchdog, scapy or requests).
"""

from __future__ import annotations

import argparse
import sys

from govwatch.cli import add_group


def register(groups: argparse._SubParsersAction) -> None:
    sub = add_group(groups, "fim", "file integrity: one-shot scans against a sealed baseline, restores")
    scan = sub.add_parser("scan", help="scan paths against a baseline (like aide --init / --check)",
                          description="Without --init: compare PATHs with the baseline in --db and print one "
                          "JSON line per change; exit 0 no change, 1 changes found, 2 error. With --init: "
                          "write the baseline (sealed with an HMAC key kept in --key, default DB.key).")
    scan.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to scan")
    scan.add_argument("--db", required=True, metavar="FILE", help="the baseline SQLite file")
    scan.add_argument("--key", metavar="FILE", help="HMAC key file (default: DB.key, created mode 0600 by --init)")
    scan.add_argument("--init", action="store_true", help="write a new baseline instead of comparing")
    scan.add_argument("--update", action="store_true", help="after reporting, accept the changes into the baseline")
    scan.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                      help="skip paths or names matching GLOB (repeatable), e.g. '*/cache/*'")
    scan.add_argument("--max-hash-size", metavar="SIZE",
                      help="files larger than this are tracked by metadata only (default 4GiB)")
    scan.add_argument("--workers", type=int, default=0, metavar="N", help="hashing threads (default: CPUs)")
    scan.add_argument("--store", metavar="DIR", help="also keep known-good copies of files (for fim restore)")
    scan.add_argument("--rules", metavar="DIR", help="FIM rules folder: adds severity and rule ids to each line")
    scan.set_defaults(func=_scan)

    restore = sub.add_parser("restore", help="put a known-good copy of a file back",
                             description="Restore PATH from the known-good store: the latest trusted copy "
                             "whose content differs from the file now. Exit 0 restored, 2 no copy.")
    restore.add_argument("path", metavar="PATH", help="the file to restore")
    where = restore.add_mutually_exclusive_group()
    where.add_argument("--store", metavar="DIR", help="known-good store folder (as given to fim scan --store)")
    where.add_argument("-c", "--config", metavar="AGENT_YML", help="use the store of this agent's fim watcher")
    restore.add_argument("--sha256", metavar="HEX", help="restore this stored version instead of the latest")
    restore.add_argument("--list", action="store_true", help="list the stored versions of PATH and exit")
    restore.set_defaults(func=_restore)

    quarantine = sub.add_parser("quarantine", help="move a suspicious file (e.g. a web shell) into quarantine",
                                description="Move PATH (under the agent's fim.paths) into a root-only quarantine "
                                "folder with its metadata, and report it to the collector. --undo puts it back.")
    quarantine.add_argument("path", nargs="?", metavar="PATH", help="the file (with --undo: its path or entry ID)")
    quarantine.add_argument("-c", "--config", required=True, metavar="AGENT_YML", help="the agent's agent.yml")
    quarantine.add_argument("--undo", action="store_true", help="put the quarantined PATH back where it was")
    quarantine.add_argument("--list", action="store_true", help="list what is in quarantine")
    quarantine.set_defaults(func=_quarantine)


def _scan(args: argparse.Namespace) -> int:
    from govwatch.agents.fim.oneshot import run_scan

    return run_scan(args, sys.stdout)


def _restore(args: argparse.Namespace) -> int:
    from govwatch.agents.fim.oneshot import run_restore

    return run_restore(args, sys.stdout)


def _quarantine(args: argparse.Namespace) -> int:
    from govwatch.agents.fim.response import run_quarantine

    return run_quarantine(args, sys.stdout)
