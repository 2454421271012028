"""`govwatch deface learn|check|rules`: learn a page profile, judge candidates, test the rules."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from govwatch.cli import add_group
from govwatch.errors import GovwatchError


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise GovwatchError(f"{path}: cannot read: {exc.strerror}") from None
    from govwatch.agents.defacement.watcher import decode

    return decode(data, None)


def _learn(args: argparse.Namespace) -> int:
    from govwatch.agents.defacement.detector import default_rules
    from govwatch.agents.defacement.profile import learn

    rules = default_rules(args.rules)
    profile = learn([_read(path) for path in args.snapshots], args.url, rules=rules)
    try:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump(profile.to_dict(), handle)
    except OSError as exc:
        raise GovwatchError(f"{args.output}: cannot write: {exc.strerror}") from None
    sys.stderr.write(f"learned {args.output} from {len(args.snapshots)} snapshot(s): "
                     f"{len(profile.stable('text'))} stable text blocks, "
                     f"{len(profile.text) - len(profile.stable('text'))} volatile\n")
    return 0


def _load_profile(path: str) -> Any:
    from govwatch.agents.defacement.profile import Profile

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise GovwatchError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise GovwatchError(f"{path}: not a JSON profile: {exc}") from None
    try:
        return Profile.from_dict(data)
    except GovwatchError as exc:
        raise GovwatchError(f"{path}: {exc}") from None


def _fetch(url: str, timeout: float, crawler: bool) -> tuple[str, str, list[str]]:
    """The page, its final URL, and the same-site stylesheets it links (fetched with it, as the agent does)."""
    import requests

    from govwatch.agents.defacement.stylesheets import SheetCache
    from govwatch.agents.defacement.watcher import BROWSER_UA, CRAWLER_UA, SEARCH_REFERER, Fetcher

    headers = {"User-Agent": CRAWLER_UA, "Referer": SEARCH_REFERER} if crawler else {"User-Agent": BROWSER_UA}
    fetcher = Fetcher(timeout, True, 5 * 2**20)
    try:
        status, text, final_url = fetcher.get(url, headers)
        if not 200 <= status < 300:
            raise GovwatchError(f"{url}: HTTP {status}")
        return text, final_url, SheetCache(fetcher.get_sheet).sheets(text, final_url)
    except requests.RequestException as exc:
        raise GovwatchError(f"{url}: fetch failed: {exc.__class__.__name__}: {str(exc)[:200]}") from None
    finally:
        fetcher.close()


def _check(args: argparse.Namespace) -> int:
    from govwatch.agents.defacement.bounded import Pool
    from govwatch.agents.defacement.detector import default_rules

    if bool(args.candidates) == bool(args.url):
        raise GovwatchError("deface check: give candidate files or --url, not both and not neither")
    if args.budget <= 0:
        raise GovwatchError(f"deface check: --budget must be a positive number of seconds (got {args.budget:g})")
    profile = _load_profile(args.profile) if args.profile else None   # none: judged at first sight
    default_rules(args.rules)   # refuse malformed rules here, with file:line, before any worker starts
    pool = Pool(size=1, budget=args.budget, rules_dir=args.rules)
    try:
        return _check_all(args, profile, pool)
    finally:
        pool.close()


def _check_all(args: argparse.Namespace, profile: Any, pool: Any) -> int:
    any_defaced = False
    cases = [("url", args.url)] if args.url else [("file", path) for path in args.candidates]
    for key, where in cases:
        if key == "url":
            html, final_url, sheets = _fetch(where, args.timeout, args.crawler)
        else:
            html, final_url, sheets = _read(where), None, None
        verdict, _ = pool.judge(profile, html, final_url, sheets)
        any_defaced |= verdict.defaced
        line = {key: where, "defaced": verdict.defaced, "score": verdict.score, "severity": verdict.severity,
                "reasons": verdict.reasons, "new_domains": verdict.new_domains, "title": verdict.title,
                "maintenance": verdict.maintenance}
        if args.diff:
            line["diff"] = verdict.text_diff
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return 1 if any_defaced else 0


def _rules(args: argparse.Namespace) -> int:
    from govwatch.agents.defacement import signatures

    rules = signatures.load(args.rules)
    failures = signatures.self_test(rules)
    for line in failures:
        print(line)
    tests = sum(len(rule.tests) for rule in rules)
    print(f"{len(rules)} defacement rules, {tests} tests, {len(failures)} failed")
    return 1 if failures else 0


def register(groups: argparse._SubParsersAction) -> None:
    sub = add_group(groups, "deface", "page defacement detection: learn a page profile, judge pages")
    learn = sub.add_parser("learn", help="learn a page profile from known-good snapshots",
                           description="Learn a page profile from one or more known-good HTML snapshots of the "
                                       "same page (3+ teach what varies between loads: dates, counters, news).")
    learn.add_argument("snapshots", nargs="+", metavar="SNAPSHOT.html", help="known-good snapshots")
    learn.add_argument("-o", "--output", required=True, metavar="PROFILE.json", help="profile to write")
    learn.add_argument("--url", help="the page's URL (tells its own domain from outside ones)")
    learn.add_argument("--rules", metavar="DIR", help="defacement rules folder (default: installed rules)")
    learn.set_defaults(func=_learn)
    check = sub.add_parser("check", help="judge candidate pages against a profile (or at first sight)",
                           description="Judge candidate pages against a learned profile, or without --profile "
                                       "at first sight (signatures, the page's build, default server pages); one "
                                       "JSON line per candidate. Each page is judged in a worker process with a "
                                       "hard deadline (--budget): a page over it is reported suspicious. "
                                       "Exit 0 all clean, 1 any defaced, 2 error.")
    check.add_argument("candidates", nargs="*", metavar="CANDIDATE.html", help="pages to judge")
    check.add_argument("--profile", metavar="PROFILE.json",
                       help="profile from `deface learn` (default: judge at first sight)")
    check.add_argument("--budget", type=float, default=10.0,
                       help="seconds one page may take to judge before it is stopped (default 10)")
    check.add_argument("--url", help="fetch and judge this URL instead of files")
    check.add_argument("--crawler", action="store_true", help="fetch --url as Googlebot (cloaking check)")
    check.add_argument("--timeout", type=float, default=10.0, help="fetch timeout in seconds (default 10)")
    check.add_argument("--diff", action="store_true", help="include the visible-text diff in each line")
    check.add_argument("--rules", metavar="DIR", help="defacement rules folder (default: installed rules)")
    check.set_defaults(func=_check)
    rules = sub.add_parser("rules", help="validate the defacement rules and run their tests",
                           description="Load every defacement rule (refusing malformed files with file:line) "
                                       "and run each rule's own match/no_match tests.")
    rules.add_argument("--rules", metavar="DIR", help="defacement rules folder (default: installed rules)")
    rules.set_defaults(func=_rules)
    _render_hook(sub)


def _render_hook(sub: argparse._SubParsersAction) -> None:
    """`deface render` lives with the collector's render pool (one browser client for both)."""
    try:
        from govwatch.collector.render.cli import add_parser
    except ImportError:
        return
    add_parser(sub)
