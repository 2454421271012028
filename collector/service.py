"""`govwatch collector run`: wires config, store, API, metrics, probes and housekeeping into one process."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from govwatch import __version__
from govwatch.collector.api import App
from govwatch.collector.config import db_path, split_listen
from govwatch.collector.httpd import make_handler, tls_context
from govwatch.collector.httploop import PooledServer
from govwatch.collector.incidents import Joining, resolve_quiet
from govwatch.collector.init import read_secret
from govwatch.collector.metrics import StoreCollector, metrics_renderer
from govwatch.collector.store import Store
from govwatch.errors import GovwatchError
from govwatch.lifecycle import run_until_signalled

log = logging.getLogger("govwatch.collector")


class Collector:
    """The running collector; `start()` returns once it listens, `stop()` shuts everything down."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.store = Store(db_path(cfg), joining=Joining.from_config(cfg), min_free=cfg["limits"]["min_free_disk"])
        self.admin_token = read_secret(cfg["admin_token_file"], "admin token")
        read_secret(cfg["enroll_key_file"], "enrollment key")
        self.outside = _outside_view(cfg, self.store)
        maintenance = getattr(self.outside, "maintenance_active", None)
        renderer = metrics_renderer(StoreCollector(self.store, cfg, maintenance=maintenance))
        self.app = App(self.store, cfg, self.admin_token,
                       lambda: read_secret(cfg["enroll_key_file"], "enrollment key"), renderer)
        if self.outside is not None:
            self.app.hooks["rebaseline"] = self.outside.rebaseline
        self.render = _render_view(cfg, self.store, self.outside, self.app)
        _install_console(self.app, self.store, cfg)
        host, port = split_listen(cfg["listen"])
        tls = tls_context(cfg["tls"]["cert"], cfg["tls"]["key"]) if cfg["tls"] else None
        limits = cfg["limits"]
        handler = make_handler(self.app, limits["max_body"], limits["request_timeout"], limits["idle_timeout"],
                               self.app.admit, min_rate=max(1, limits["min_rate"]),
                               max_connections=limits["max_connections"], per_ip=limits["connections_per_ip"])
        try:
            self.server = PooledServer((host, port), handler, limits["threads"], tls,
                                       on_refused=self.app.rejections.count)
        except OSError as exc:
            raise GovwatchError(f"cannot listen on {cfg['listen']}: {exc.strerror}") from None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{'https' if self.cfg['tls'] else 'http'}://{host}:{port}"

    def start(self) -> None:
        self._spawn("http", self.server.serve_forever)
        self._spawn("housekeeping", self._housekeeping)
        if self.outside is not None:
            self.outside.start()
        if self.render is not None:
            self.render.start()
        log.info("govwatch collector %s listening on %s (store %s %s)", __version__, self.url, self.store.kind,
                 self.store.where)

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _housekeeping(self) -> None:
        """Flush rejection counters often; purge past retention hourly."""
        last_purge = last_quiet = 0.0
        while not self._stop.wait(1.0):
            self.app.rejections.flush()
            if time.time() - last_quiet > min(15.0, max(1.0, self.cfg["incidents"]["resolve_after"] / 4)):
                last_quiet = time.time()
                with self.store.transaction() as conn:
                    resolve_quiet(conn, last_quiet, self.cfg["incidents"]["resolve_after"])
            if time.time() - last_purge > 3600:
                last_purge = time.time()
                retention = self.cfg["retention"]
                self.store.purge(time.time() - retention["events"], time.time() - retention["probes"])

    def stop(self) -> None:
        self._stop.set()
        if self.outside is not None:
            self.outside.stop()
        if self.render is not None:
            self.render.stop()
        self.server.shutdown()
        self.server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.app.rejections.flush()
        self.store.close()


def _outside_view(cfg: dict[str, Any], store: Store) -> Any:
    """The external prober (uptime + defacement as citizens see it), if its modules are installed."""
    try:
        from govwatch.collector.outside import OutsideView
    except ImportError as exc:
        log.warning("external site probes unavailable: %s", exc)
        return None
    return OutsideView(cfg, store)


def _render_view(cfg: dict[str, Any], store: Store, outside: Any, app: App) -> Any:
    """The rendered view (headless Chromium), or None with the reason logged; rebaseline accepts the new look."""
    from govwatch.collector.render.config import decide

    decision = decide(cfg)   # before importing the view: a base install has no websocket-client or Pillow
    if decision.problem:
        from govwatch.errors import GovwatchError

        raise GovwatchError(decision.line.replace("rendering: off", "render.enabled is true but rendering cannot run"))
    if not decision.on:
        logging.getLogger("govwatch.collector.render").info("%s", decision.line)
        return None
    from govwatch.collector.render import storage
    from govwatch.collector.render.view import build

    view = build(cfg, store, outside)
    if view is not None:
        app.hooks["render_shot"] = view.shots.path
        app.hooks["render_latest"] = lambda site: storage.latest_screenshot(store, site)
        plain = app.hooks.get("rebaseline")

        def rebaseline(name: str, user: str) -> Any:
            view.rebaseline(name)
            return plain(name, user) if plain else {"site": name, "rebaselined_by": user}

        app.hooks["rebaseline"] = rebaseline
    return view


def _install_console(app: App, store: Store, cfg: dict[str, Any]) -> None:
    try:
        from govwatch.collector.console import install
    except ImportError:
        return
    install(app, store, cfg)


def run(cfg: dict[str, Any]) -> int:
    collector = Collector(cfg)

    def start() -> None:
        collector.start()
        print(f"govwatch collector listening on {collector.url}  (metrics: {collector.url}/metrics)", flush=True)

    def stop() -> None:
        log.info("shutting down")
        collector.stop()

    return run_until_signalled(start, stop)
