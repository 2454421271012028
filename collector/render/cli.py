"""`govwatch deface render URL [--profile P] [-o shot.png]`: one render in headless Chromium, judged.

`--profile` takes a `deface learn` profile (the rendered DOM is judged against it) or a render profile:
the collector's `data_dir/render/state/SITE.json`, or one written here with `--baseline`, which also
holds known-good screenshots and run-time domains, so the screenshot and the domains are judged too.
Prints one JSON line; exit 0 clean, 1 defaced, 2 error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Any

from govwatch.errors import GovwatchError


def add_parser(sub: argparse._SubParsersAction) -> None:
    render = sub.add_parser("render", help="render a page in headless Chromium and judge what it shows",
                            description="Render URL in the system's headless Chromium (sandboxed, as an "
                            "unprivileged account when run as root), judge the rendered DOM, run-time domains, "
                            "referrer-only redirects and (with a render profile) the screenshot. One JSON line; "
                            "exit 0 clean, 1 defaced, 2 error.")
    render.add_argument("url", metavar="URL", help="http(s) page to render")
    render.add_argument("--profile", metavar="P", help="`deface learn` profile or render profile (JSON)")
    render.add_argument("-o", "--output", metavar="shot.png", help="write the screenshot here")
    render.add_argument("--baseline", action="store_true", help="accept this render as known-good into --profile "
                        "(a render profile; created if missing)")
    render.add_argument("--save-dom", metavar="FILE", help="write the rendered DOM (for `deface learn`)")
    render.add_argument("--budget", type=_seconds, default=20.0, help="longest the render may take, s (default 20)")
    render.add_argument("--browser", metavar="PATH", help="Chromium binary (default: chromium on PATH)")
    render.set_defaults(func=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.5 <= value <= 600:
        raise argparse.ArgumentTypeError(f"must be seconds between 0.5 and 600 (got {text!r})")
    return value


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise GovwatchError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise GovwatchError(f"{path}: not JSON: {exc}") from None


def _load(path: str | None, url: str, baseline: bool) -> tuple[Any, bool]:
    """(SiteRender, is_render_profile) from --profile; a plain page profile becomes a state without looks."""
    from govwatch.agents.defacement.profile import Profile, ProfileError
    from govwatch.collector.render.state import SiteRender

    if path is None:
        if baseline:
            raise GovwatchError("deface render: --baseline needs --profile (the render profile to write)")
        return SiteRender("cli", url), False
    if baseline and not os.path.exists(path):
        return SiteRender("cli", url), True
    data = _read_json(path)
    if isinstance(data, dict) and "baseline" in data and "profile" in data:
        data = {**data, "url": url}
        return SiteRender.from_dict(data, str(data.get("name") or "cli"), url), True
    if baseline:
        raise GovwatchError(f"{path}: a `deface learn` profile; --baseline writes a render profile, give another "
                            "file")
    state = SiteRender("cli", url)
    try:
        state.profile = Profile.from_dict(data)
    except ProfileError as exc:
        raise GovwatchError(f"{path}: {exc}") from None
    state.current = "clean"
    return state, False


def _write(path: str, data: bytes | str) -> None:
    try:
        with open(path, "wb" if isinstance(data, bytes) else "w", **({} if isinstance(data, bytes) else
                                                                     {"encoding": "utf-8"})) as handle:
            handle.write(data)
    except OSError as exc:
        raise GovwatchError(f"{path}: cannot write: {exc.strerror}") from None


def _render(url: str, budget: float, browser_path: str | None) -> tuple[Any, str]:
    from govwatch.collector.render.browser import Browser, BrowserError, find_browser
    from govwatch.collector.render.page import Renderer

    path = find_browser(browser_path)
    if path is None:
        raise GovwatchError(f"deface render: no browser found ({browser_path or 'chromium on PATH'}); "
                            "install Debian's chromium")
    browser = Browser(path)
    try:
        browser.start()
        return Renderer(browser, budget).render(url), browser.sandbox
    except BrowserError as exc:
        raise GovwatchError(f"deface render: {exc}") from None
    finally:
        browser.kill()


def run(args: argparse.Namespace) -> int:
    from govwatch.collector.render.visual import VisualError, fingerprint

    state, render_profile = _load(args.profile, args.url, args.baseline)
    render, sandbox = _render(args.url, args.budget, args.browser)
    line: dict[str, Any] = {"url": args.url, "final_url": render.final_url,
                            "referrer_final_url": render.referrer_final_url, "duration": round(render.duration, 3),
                            "sandbox": sandbox, "runtime_domains": sorted(render.domains)}
    if not render.ok:
        print(json.dumps({**line, "defaced": None, "error": render.error, "reason": render.reason}), flush=True)
        sys.stderr.write(f"deface render: {args.url}: {render.error}\n")
        return 2
    sha = hashlib.sha256(render.screenshot).hexdigest() if render.screenshot else None
    if args.output and render.screenshot:
        _write(args.output, render.screenshot)
    if args.save_dom:
        _write(args.save_dom, render.dom)
    try:
        current = fingerprint(render.screenshot) if render.screenshot else None
    except VisualError as exc:
        raise GovwatchError(f"deface render: {exc}") from None
    if args.baseline:
        state.accept(render, current, sha)
        _write(args.profile, json.dumps(state.to_dict()))
    outcome = state.observe(render, current, sha) if not args.baseline else None
    verdict = outcome.verdict if outcome else None
    line.update({"defaced": bool(verdict and verdict.defaced), "score": verdict.score if verdict else 0.0,
                 "severity": verdict.severity if verdict else "info",
                 "reasons": verdict.reasons if verdict else ["accepted as known-good"],
                 "new_domains": verdict.new_domains if verdict else [], "title": verdict.title if verdict else "",
                 "visual_difference": verdict.visual_difference if verdict else None,
                 "known_good_renders": len(state.baseline.prints) if render_profile else 0,
                 "screenshot": os.path.abspath(args.output) if args.output and sha else None,
                 "screenshot_sha256": sha, "status": render.status, "dialogs_dismissed": render.dialogs})
    print(json.dumps(line, ensure_ascii=False), flush=True)
    return 1 if line["defaced"] else 0
