"""The collector's web console for security staff: incidents with evidence and triage, agents, sites.

`install(app, store, cfg)` is called by the collector service: it adds the console's tables, its
pages and JSON endpoints to the app's route table, and lets console sessions use the core JSON API.
Server-rendered HTML from the standard library, a little JavaScript from /static/ for live refresh,
no new dependency (see render.py for why).
"""

from __future__ import annotations

from typing import Any

from govwatch.collector.console import accounts, actions, fleet, incident_pages, screenshots
from govwatch.collector.console.render import static_file
from govwatch.collector.console.web import SECURITY_HEADERS, Console
from govwatch.collector.httpd import Request, Response

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml", ".png": "image/png"}


def install(app: Any, store: Any, cfg: dict[str, Any]) -> Console:
    """Add the console to `app` (an api.App); return the Console (tests use it)."""
    actions.install_tables(store)
    console = Console(app, store, cfg)
    app.session_resolver = console.resolve_session

    def route(method: str, pattern: str) -> Any:
        return app.route(method, pattern, "public")  # the console's own guards authenticate (web.py)

    route("GET", "/static/(?P<name>[A-Za-z0-9_-]+\\.[a-z]{2,4})")(serve_static)
    accounts.install(console, route)
    incident_pages.install(console, route)
    fleet.install(console, route)
    screenshots.install(console, route)
    return console


def serve_static(request: Request) -> Response:
    """CSS and JavaScript: public (the login page needs them), holding nothing secret."""
    name = request.identity["params"]["name"]
    body = static_file(name)
    kind = STATIC_TYPES.get(name[name.rfind("."):])
    if body is None or kind is None:
        return Response.error(404, f"no static file {name}")
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"}
    return Response(200, body, kind, headers)
