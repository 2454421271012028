"""`govwatch logs ...`: offline analysis of access and auth logs, and self-tests of the log rules."""

from __future__ import annotations

import argparse
import json
import sys

from govwatch.cli import add_group
from govwatch.detector_rules import add_test_rules_command
from govwatch.errors import GovwatchError
from govwatch.schema import check_cidr

from . import rules as log_rules
from .analyze import analyze
from .findings import Finding
from .formats import FormatError, build_parser
from .watcher import _login_path


def register(groups: argparse._SubParsersAction) -> None:
    sub = add_group(groups, "logs", "web-server and sshd logs: analyse files offline, test rules")
    run = sub.add_parser("analyze", help="run the log detectors over access or auth log files", description=(
        "Runs the same detectors as the live watcher over log files, in log time. Prints one JSON line per "
        "finding ({kind, start, end, src, evidence}) and a last summary line ({lines, unparsed, seconds, "
        "lines_per_s, findings}). Exit 0: no finding, 1: findings, 2: error."))
    run.add_argument("files", metavar="FILE", nargs="+", help="access or auth logs, plain or .gz, oldest first")
    run.add_argument("--format", metavar="nginx|apache|auth|journal|FMT", default=None,
                     help="log format: a preset, or an nginx log_format / Apache LogFormat string "
                     "(default: sniffed per file)")
    run.add_argument("--rules", metavar="DIR", help="logs rules folder (default: the installed rules/logs)")
    run.add_argument("--login-path", metavar="PATH", action="append", default=[],
                     help="a custom login URL of the site (repeatable)")
    run.add_argument("--trusted", metavar="CIDR", action="append", default=[],
                     help="a source never judged (repeatable)")
    run.set_defaults(func=_analyze)
    add_test_rules_command(sub, "logs", log_rules.load)


def _check_args(args: argparse.Namespace) -> None:
    if args.format and args.format not in ("auth", "journal"):
        try:
            build_parser(args.format)
        except FormatError as exc:
            raise GovwatchError(f"--format: {exc}") from None
    for value in args.login_path:
        if (problem := _login_path(value)) is not None:
            raise GovwatchError(f"--login-path: {problem}")
    for value in args.trusted:
        if (problem := check_cidr(value)) is not None:
            raise GovwatchError(f"--trusted: {problem}")


def _analyze(args: argparse.Namespace) -> int:
    _check_args(args)
    rules = log_rules.load(args.rules)

    def emit(finding: Finding) -> None:
        sys.stdout.write(json.dumps(finding.record(), ensure_ascii=False) + "\n")
        sys.stdout.flush()

    summary = analyze(args.files, rules, emit, args.format, args.login_path, args.trusted)
    sys.stdout.write(json.dumps(summary.record()) + "\n")
    return 1 if summary.findings else 0

