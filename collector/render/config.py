"""The `render:` section of collector.yml and the decision whether rendering runs (and why not)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from govwatch.schema import Field


def _check_enabled(value: Any) -> str | None:
    return None if value == "auto" or isinstance(value, bool) else f"must be auto, true or false (got {value!r})"


RENDER = Field("map", default={}, fields={
    "enabled": Field("any", default="auto", check=_check_enabled,
                     doc="auto: render when a Chromium is found; true: refuse to run without one"),
    "interval": Field("duration", default=600.0, minimum=10.0, doc="time between renders of each site"),
    "concurrency": Field("int", default=2, minimum=1, doc="renders at once (one browser each)"),
    "browser": Field("str", default=None, doc="Chromium binary (default: chromium found on PATH)"),
    "budget": Field("duration", default=20.0, minimum=1.0, doc="longest one render may take; a page still "
                    "running then is cut off and reported"),
    "memory": Field("size", default=2**30, doc="memory cap of all the browsers together (PSS)"),
    "retention": Field("duration", default=30 * 86400.0, doc="how long unpinned screenshots are kept"),
    "max_bytes": Field("size", default=512 * 2**20, doc="size bound of the screenshot folder"),
}, doc="render each site in headless Chromium (the rendered view, screenshots)")
SITE_RENDER = Field("bool", default=True, doc="false: never render this site in the browser")


@dataclass(frozen=True)
class Decision:
    """Whether the render pool runs, with which browser, and a line saying so."""

    on: bool
    browser: str | None
    line: str
    problem: bool = False


def decide(cfg: dict[str, Any]) -> Decision:
    """auto: on when a browser is found; true without a browser is a problem; false is off."""
    section = cfg.get("render") or {}
    enabled = section.get("enabled", "auto")
    if enabled is False:
        return Decision(False, None, "rendering: off (render.enabled is false)")
    try:
        import PIL.Image  # noqa: F401  (the visual sensor; the collector extra brings it with websocket-client)

        from govwatch.collector.render.browser import find_browser
    except ImportError as exc:
        return Decision(False, None, f"rendering: off ({exc.name} is not installed: pip install "
                        "'govwatch[collector]')", enabled is True)
    browser = find_browser(section.get("browser"))
    if browser is None:
        where = section.get("browser") or "chromium on PATH"
        why = f"no browser found ({where}; install Debian's chromium)"
        return Decision(False, None, f"rendering: off ({why})", enabled is True)
    sites = [s["name"] for s in cfg.get("sites", []) if s.get("render", True)]
    return Decision(True, browser, f"rendering: on with {browser}, {len(sites)} site(s) every "
                    f"{section.get('interval', 600.0):g}s, {section.get('concurrency', 2)} at once")
