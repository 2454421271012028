"""The `govwatch` command: one entry point, one subcommand group per area.

Each area module exposes `register(subparsers)` and sets `func(args) -> int` on its parsers. Any
GovwatchError becomes one line on stderr and exit 2; a traceback is never what a user sees.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from govwatch import __version__
from govwatch.errors import GovwatchError

AREAS = (
    ("collector", "govwatch.collector.cli", "run and administer the govwatch collector"),
    ("agent", "govwatch.agents.cli", "run and set up the govwatch agent on a web server"),
    ("fim", "govwatch.agents.fim.cli", "file integrity: one-shot scans and restore of known-good files"),
    ("deface", "govwatch.agents.defacement.cli", "defacement detector: learn a page profile, check pages"),
    ("traffic", "govwatch.agents.traffic.cli", "traffic anomalies: analyse a capture offline"),
    ("logs", "govwatch.agents.logs.cli", "web-server and sshd logs: analyse log files offline"),
    ("report", "govwatch.collector.report.cli", "managers' reports (monthly uptime)"),
)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if message.endswith("expected one argument"):  # e.g. an old enrollment key that begins with '-'
            message += "; a value that begins with '-' must be written --option=VALUE"
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser(only: str | None = None) -> Parser:
    """The full parser; with `only`, just that area's module is imported (a fast start for `fim scan`)."""
    parser = Parser(prog="govwatch", description=(
        "Security and uptime monitoring for government web sites: agents watch defacement, file "
        "integrity and traffic; a collector stores events, probes sites, exports Prometheus metrics."))
    parser.add_argument("--version", action="version", version=f"govwatch {__version__}")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                        help="log verbosity on stderr (default: info)")
    groups = parser.add_subparsers(dest="area", metavar="COMMAND", parser_class=Parser)
    for name, module, help_text in AREAS:
        if only is not None and name != only:
            groups.add_parser(name, help=help_text, description=help_text, add_help=False)
            continue
        try:
            importlib.import_module(module).register(groups)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return parser


def _area(argv: list[str]) -> str | None:
    """The area named on the command line, if it is one we know (so only its module is imported)."""
    words = [w for w in argv if not w.startswith("-")]
    names = {name for name, _module, _help in AREAS}
    return words[0] if words and words[0] in names and words[0] == argv[0] else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_area(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    func = getattr(args, "func", None)
    if func is None:
        target = getattr(args, "_parser", parser)
        target.print_help()
        return 0 if args.area is None else 2
    try:
        return int(func(args) or 0)
    except GovwatchError as exc:
        sys.stderr.write(f"govwatch: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def add_group(groups: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    """Add an area (e.g. `fim`) and return its own subparsers; bare `govwatch fim` prints help."""
    area = groups.add_parser(name, help=help_text, description=help_text)
    area.set_defaults(_parser=area)
    return area.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND", parser_class=Parser)


if __name__ == "__main__":
    sys.exit(main())
