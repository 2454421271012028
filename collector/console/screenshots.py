"""The rendered view's screenshots in an incident: known good and now side by side, each a link to the
full-size picture; and the route that serves them (viewers only, by sha256, nothing else on disk)."""

from __future__ import annotations

import os
from typing import Any

from govwatch.collector.console.render import Safe, html
from govwatch.collector.console.web import SECURITY_HEADERS, Console, Ctx
from govwatch.collector.httpd import Response

ROUTE = "/render/shots/{0}.png"
LATEST_ROUTE = "/sites/{0}/screenshot.png"
LATEST_ROUTE_PATTERN = "/sites/(?P<site>[a-z0-9][a-z0-9_.-]{0,62})/screenshot\\.png"
MAX_SHOT = 32 * 2**20


def _figure(sha: Any, caption: str, w: dict[str, str], css: str) -> Safe:
    if not isinstance(sha, str) or len(sha) != 64:
        return html('<figure class="{0}"><figcaption>{1}</figcaption><p class="muted">{2}</p></figure>', css,
                    caption, w["shot_missing"])
    url = ROUTE.format(sha)
    return html('<figure class="{0}"><figcaption>{1}</figcaption><a href="{2}" target="_blank" rel="noopener" '
                'title="{3}"><img src="{2}" alt="{1}" loading="lazy"></a></figure>', css, caption, url,
                w["shot_enlarge"])


def screenshots(view: dict[str, Any], w: dict[str, str]) -> Safe:
    """Nothing for views without a screenshot (agents, the static probe)."""
    if not view.get("screenshot"):
        return Safe("")
    difference = view.get("visual_difference")
    note = html('<p class="small">{0}: {1}%</p>', w["visual_difference"], f"{float(difference) * 100:.0f}") \
        if isinstance(difference, int | float) else Safe("")
    return html('<h4>{0}</h4>{1}<div class="shots">{2}{3}</div>', w["screenshots"], note,
                _figure(view.get("known_good_screenshot"), w["shot_known_good"], w, "shot known-good"),
                _figure(view.get("screenshot"), w["shot_now"], w, "shot now"))


def serve(console: Console, ctx: Ctx) -> Response:
    finder = console.app.hooks.get("render_shot")
    path = finder(ctx.params["sha"]) if finder else None
    if not path or os.path.getsize(path) > MAX_SHOT:
        return console.error_page(ctx, 404, ctx.w["not_found"])
    with open(path, "rb") as handle:
        body = handle.read()
    headers = {**SECURITY_HEADERS, "Cache-Control": "private, max-age=86400"}
    return Response(200, body, "image/png", headers)


def serve_latest(console: Console, ctx: Ctx) -> Response:
    """The site's last screenshot under a link that never changes: what alert messages point at."""
    latest = console.app.hooks.get("render_latest")
    sha = latest(ctx.params["site"]) if latest else None
    if not sha:
        return console.error_page(ctx, 404, ctx.w["shot_missing"])
    ctx.params["sha"] = sha
    return serve(console, ctx)


def install(console: Console, route: Any) -> None:
    route("GET", "/render/shots/(?P<sha>[0-9a-f]{64})\\.png")(console.page("viewer")(lambda ctx: serve(console, ctx)))
    route("GET", LATEST_ROUTE_PATTERN)(console.page("viewer")(lambda ctx: serve_latest(console, ctx)))
