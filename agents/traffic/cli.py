"""`govwatch traffic ...`: offline analysis of captures and self-tests of the traffic rules."""

from __future__ import annotations

import argparse
import json
import sys

from govwatch.cli import add_group
from govwatch.detector_rules import add_test_rules_command
from govwatch.errors import GovwatchError

from . import rules as traffic_rules
from .analyze import analyze, parse_home
from .tracker import Anomaly


def register(groups: argparse._SubParsersAction) -> None:
    sub = add_group(groups, "traffic", "traffic anomaly detection: analyse captures, test rules")
    run = sub.add_parser("analyze", help="run the traffic detectors over a pcap/pcapng capture", description=(
        "Runs the same detectors as the live watcher over a capture file, in packet time. Prints one JSON "
        "line per anomaly ({kind, start, end, src, dst, evidence}) and a last summary line "
        "({packets, seconds, pps, anomalies}). Exit 0: no anomaly, 1: anomalies found, 2: error. A capture "
        "cut short or with a damaged block is analysed up to that point, like `tshark -r`: the lines are "
        "printed, one warning line goes to stderr and the exit status is 2."))
    run.add_argument("capture", metavar="FILE.pcap", help="pcap or pcapng file (Ethernet, Linux cooked, raw IP, "
                     "loopback)")
    run.add_argument("--rules", metavar="DIR", help="traffic rules folder (default: the installed rules/traffic)")
    run.add_argument("--home", metavar="CIDR", action="append", default=[],
                     help="protected address or network (repeatable); default: inferred from the capture")
    run.set_defaults(func=_analyze)
    add_test_rules_command(sub, "traffic", traffic_rules.load)


def _analyze(args: argparse.Namespace) -> int:
    try:
        home = parse_home(args.home)
    except ValueError as exc:
        raise GovwatchError(str(exc)) from None
    rules = traffic_rules.load(args.rules)

    def emit(anomaly: Anomaly) -> None:
        sys.stdout.write(json.dumps(anomaly.record(), sort_keys=False) + "\n")
        sys.stdout.flush()

    summary = analyze(args.capture, rules, emit, home or None)
    sys.stdout.write(json.dumps(summary.record()) + "\n")
    if summary.warning:
        sys.stdout.flush()
        sys.stderr.write(f"govwatch: {summary.warning} ({summary.packets} packets before it were analysed)\n")
        return 2
    return 1 if summary.anomalies else 0

