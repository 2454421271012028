"""Defacement detection. The entry point for other components (the watcher, the prober, issue 17's
rendered-DOM check) is `judge(html, url, profile, stylesheets=...)`."""

from __future__ import annotations

from typing import Any


def judge(html: str, url: str | None = None, profile: Any = None, stylesheets: list[str] | None = None,
          rules: list | None = None) -> Any:
    """Judge one page (HTML text as a browser has it, or its rendered DOM) against a learned Profile, or
    at first sight when `profile` is None; `stylesheets` are the texts of the CSS it links. In-process:
    callers that must not stall use `bounded.Pool` instead. Returns a detector.Verdict."""
    from govwatch.agents.defacement import detector
    from govwatch.agents.defacement.html import parse

    return detector.judge(profile, html, url, rules=rules, page=parse(html, stylesheets))
