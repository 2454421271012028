"""`govwatch report uptime` (the managers' monthly report, HTML or PDF) and `govwatch report digest`
(the weekly summary for e-mail or Telegram), English or Khmer, both from the same accounting."""

from __future__ import annotations

import argparse
import os

from govwatch.cli import add_group
from govwatch.collector.config import load_config
from govwatch.collector.report.data import build_report
from govwatch.collector.report.digest import build_digest, digest_html, digest_text
from govwatch.collector.report.i18n import LANGS
from govwatch.collector.report.render import render_html, write_csv, write_pdf
from govwatch.errors import GovwatchError

DEFAULT_CONFIG = "/etc/govwatch/collector.yml"
FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf"}
DIGEST_FORMATS = {".txt": "text", ".text": "text", ".html": "html", ".htm": "html"}


def register(groups: argparse._SubParsersAction) -> None:
    sub = add_group(groups, "report", "reports for managers built from the collector's store")
    text = ("monthly uptime report: per ministry and site, time up, down and defaced or tampered, the "
            "'available and intact' figure against the target, outages, maintenance, security events and the "
            "accounting method; prints the path it wrote")
    uptime = sub.add_parser("uptime", help=text, description=text)
    uptime.add_argument("--month", required=True, help="calendar month YYYY-MM (in the report time zone); "
                        "the current month is marked in progress, a future month is refused (exit 2)")
    uptime.add_argument("--lang", choices=LANGS, default="en", help="language: en (English) or km (Khmer)")
    uptime.add_argument("--format", choices=("html", "pdf"), default=None,
                        help="output format (default: from the -o extension .html/.htm/.pdf; any other is refused)")
    uptime.add_argument("-o", "--output", required=True, help="file to write")
    uptime.add_argument("--csv", metavar="FILE", help="also write the per-site figures as CSV")
    uptime.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"collector.yml (default {DEFAULT_CONFIG})")
    uptime.set_defaults(func=run_uptime)
    text = ("weekly digest for managers: sites below the target, incidents opened and resolved, the most serious "
            "ones, in the recipient's language, as plain text (e-mail, Telegram) or HTML; prints the path it wrote")
    digest = sub.add_parser("digest", help=text, description=text)
    digest.add_argument("--week-ending", metavar="YYYY-MM-DD", default=None,
                        help="last day of the 7-day week (report time zone; default: yesterday)")
    digest.add_argument("--lang", choices=LANGS, default="en", help="language: en (English) or km (Khmer)")
    digest.add_argument("--format", choices=("text", "html"), default=None,
                        help="output format (default: from the -o extension .txt/.html; any other is refused)")
    digest.add_argument("-o", "--output", required=True, help="file to write, or - for standard output")
    digest.add_argument("-c", "--config", default=DEFAULT_CONFIG, help=f"collector.yml (default {DEFAULT_CONFIG})")
    digest.set_defaults(func=run_digest)


def output_format(path: str, chosen: str | None, known: dict[str, str]) -> str:
    """--format wins; else the extension must be one we write (a .docx is refused, not written as HTML)."""
    if chosen:
        return chosen
    ext = os.path.splitext(path)[1].lower()
    if ext not in known:
        names = "/".join(sorted(known))
        raise GovwatchError(f"-o {path}: cannot tell the format from {ext or 'a name without extension'} "
                            f"(use {names}, or --format)")
    return known[ext]


def _check_folder(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise GovwatchError(f"-o {path}: folder {folder} does not exist")


def _write_text(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise GovwatchError(f"-o {path}: {exc.strerror}") from None


def run_uptime(args: argparse.Namespace) -> int:
    fmt = output_format(args.output, args.format, FORMATS)
    _check_folder(args.output)
    cfg = load_config(args.config)
    from govwatch.collector.uptime import refuse_future_month

    refuse_future_month(args.month, cfg["report"]["timezone"])
    report = build_report(cfg, args.month)
    html = render_html(report, args.lang)
    if fmt == "pdf":
        from govwatch.progress import Progress

        with Progress("report: rendering the PDF"):  # WeasyPrint takes seconds; say it is working
            write_pdf(html, args.output)
    else:
        _write_text(args.output, html)
    print(f"wrote {os.path.abspath(args.output)}")
    if args.csv:
        write_csv(report, args.csv)
        print(f"wrote {os.path.abspath(args.csv)}")
    return 0


def run_digest(args: argparse.Namespace) -> int:
    to_stdout = args.output == "-"
    fmt = args.format or ("text" if to_stdout else output_format(args.output, None, DIGEST_FORMATS))
    if not to_stdout:
        _check_folder(args.output)
    cfg = load_config(args.config)
    digest = build_digest(cfg, args.week_ending)
    body = digest_text(digest, args.lang) if fmt == "text" else digest_html(digest, args.lang)
    if to_stdout:
        print(body)
        return 0
    _write_text(args.output, body)
    print(f"wrote {os.path.abspath(args.output)}")
    return 0
