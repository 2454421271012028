"""`govwatch report uptime`: the managers' monthly availability report (HTML or PDF, English or Khmer)."""

from __future__ import annotations

import argparse
import os

from govwatch.cli import add_group
from govwatch.collector.config import load_config
from govwatch.collector.report.data import build_report
from govwatch.collector.report.i18n import LANGS
from govwatch.collector.report.render import render_html, write_csv, write_pdf
from govwatch.errors import GovwatchError

DEFAULT_CONFIG = "/etc/govwatch/collector.yml"


def register(groups: argparse._SubParsersAction) -> None:
    sub = add_group(groups, "report", "reports for managers built from the collector's store")
    text = ("monthly uptime report: availability per ministry and site against the target, outages, "
            "maintenance windows, security events and the accounting method")
    uptime = sub.add_parser("uptime", help=text, description=text)
    uptime.add_argument("--month", required=True, help="calendar month YYYY-MM (in the report time zone)")
    uptime.add_argument("--lang", choices=LANGS, default="en", help="language: en (English) or km (Khmer)")
    uptime.add_argument("--format", choices=("html", "pdf"), default=None,
                        help="output format (default: from the -o extension, else html)")
    uptime.add_argument("-o", "--output", required=True, help="file to write")
    uptime.add_argument("--csv", metavar="FILE", help="also write the per-site figures as CSV")
    uptime.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"collector.yml (default {DEFAULT_CONFIG})")
    uptime.set_defaults(func=run_uptime)


def run_uptime(args: argparse.Namespace) -> int:
    fmt = args.format or ("pdf" if args.output.lower().endswith(".pdf") else "html")
    cfg = load_config(args.config)
    from govwatch.collector.uptime import refuse_future_month

    refuse_future_month(args.month, cfg["report"]["timezone"])
    report = build_report(cfg, args.month)
    html = render_html(report, args.lang)
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise GovwatchError(f"-o {args.output}: folder {folder} does not exist")
    if fmt == "pdf":
        from govwatch.progress import Progress

        with Progress("report: rendering the PDF"):  # WeasyPrint takes seconds; say it is working
            write_pdf(html, args.output)
    else:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(html)
        except OSError as exc:
            raise GovwatchError(f"-o {args.output}: {exc.strerror}") from None
    if args.csv:
        write_csv(report, args.csv)
    return 0
