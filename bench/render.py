"""Rendered-view benchmark: renders per minute per core, browser peak memory, and the visual sensor's
false-alarm rate over repeated renders of the corpus's legitimate pages, served on 127.0.0.1.

Run: `python bench/render.py [--corpus ../shared/corpus/defacement] [--repeat 6] [--pages 34] [--selenium]`.
Anchor (same run): the static view of the same pages (HTTP fetch + the defacement detector), so a shared,
noisy machine still gives a meaningful ratio. `--selenium` also renders the pages with Selenium and the
Debian chromium-driver (the client this module did not choose) for the comparison in the README.
Goal: 300 sites every 10 minutes on at most one core (>= 30 renders per CPU-minute), browser < 1 GiB.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import requests

from govwatch.agents.defacement.detector import judge
from govwatch.agents.defacement.profile import learn
from govwatch.collector.render.browser import Browser, find_browser
from govwatch.collector.render.page import Render, Renderer
from govwatch.collector.render.visual import Baseline, fingerprint, weight


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(folder: str) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=folder))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU of this process and every process it starts (browsers, renderers, zygotes): a cpuacct cgroup
    this benchmark moves itself into when it can (root; exact, whatever exits when), otherwise its own
    rusage plus that of the reaped descendants (it becomes their subreaper, so orphans come back to it)."""

    def __init__(self) -> None:
        self.usage_file: str | None = None
        root = "/sys/fs/cgroup/cpuacct"
        if os.path.isdir(root) and os.access(root, os.W_OK):
            group = os.path.join(root, f"govwatch-bench-{os.getpid()}")
            try:
                os.makedirs(group, exist_ok=True)
                with open(os.path.join(group, "cgroup.procs"), "w", encoding="ascii") as handle:
                    handle.write(str(os.getpid()))
                self.usage_file, self.group = os.path.join(group, "cpuacct.usage"), group
            except OSError:
                self.usage_file = None
        if self.usage_file is None:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        self.method = "cgroup cpuacct" if self.usage_file else "rusage (self + reaped descendants)"

    def seconds(self) -> float:
        if self.usage_file:
            with open(self.usage_file, encoding="ascii") as handle:
                return int(handle.read()) / 1e9
        _reap()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cpu_self() + children.ru_utime + children.ru_stime

    def close(self) -> None:
        if self.usage_file:
            with open("/sys/fs/cgroup/cpuacct/cgroup.procs", "w", encoding="ascii") as handle:
                handle.write(str(os.getpid()))
            try:
                os.rmdir(self.group)
            except OSError:
                pass


def _reap(timeout: float = 2.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def static_anchor(urls: list[str], repeat: int, meter: CpuMeter) -> dict[str, float]:
    """The static view's cost per page: fetch + detector, as the outside probe does."""
    start_wall, start_cpu = time.monotonic(), meter.seconds()
    for url in urls:
        profile = learn([requests.get(url, timeout=10).text], url)
        for _ in range(repeat):
            judge(profile, requests.get(url, timeout=10).text, url)
    n = len(urls) * (repeat + 1)
    return {"pages": n, "wall_s": time.monotonic() - start_wall, "cpu_s": meter.seconds() - start_cpu}


def bench_cdp(urls: list[str], repeat: int, path: str, meter: CpuMeter) -> dict[str, float]:
    """Render each page `repeat + 3` times: 3 to learn the looks, then count visual alarms."""
    browser = Browser(path)
    browser.start()
    renderer = Renderer(browser, budget=20)
    peak, alarms, judged, renders, failed = 0, 0, 0, 0, 0
    start_wall, start_cpu = time.monotonic(), meter.seconds()
    for url in urls:
        baseline = Baseline.empty()
        for index in range(repeat + 3):
            result = renderer.render(url)
            peak = max(peak, browser.memory())
            renders += 1
            if not result.ok or not result.screenshot:
                failed += 1
                continue
            current = fingerprint(result.screenshot)
            if index < 3:
                baseline.add(current, str(index))
                continue
            judged += 1
            alarms += weight(baseline.difference(current)[0]) > 0
    wall = time.monotonic() - start_wall
    browser.kill()
    cpu = meter.seconds() - start_cpu
    return {"renders": renders, "failed": failed, "wall_s": wall, "cpu_s": cpu, "peak_browser_mib": peak / 2**20,
            "visual_judged": judged, "visual_alarms": alarms, "sandbox": browser.sandbox}


def bench_cdp_same_tab(urls: list[str], path: str, meter: CpuMeter) -> dict[str, float]:
    """Our client doing what the Selenium run does (one tab reused, navigate, DOM, screenshot): the client
    comparison on equal terms, without the per-render isolation the pool pays for."""
    from govwatch.collector.render.page import _DOM_JS, _Budget, _Tab

    browser = Browser(path)
    browser.start()
    start_wall, start_cpu = time.monotonic(), meter.seconds()
    conn = browser.conn
    target = conn.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = conn.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    tab = _Tab(conn, session, Render(url="", started=0.0))
    conn.on(session, tab)
    conn.call("Page.enable", {}, session)
    conn.call("Network.enable", {}, session)
    for url in urls:
        tab.restart(Render(url=url, started=0.0))
        conn.call("Page.navigate", {"url": url}, session, timeout=20)
        tab.settle(_Budget(20))
        conn.call("Runtime.evaluate", {"expression": _DOM_JS, "returnByValue": True}, session, timeout=20)
        conn.call("Page.captureScreenshot", {"format": "png"}, session, timeout=20)
    wall = time.monotonic() - start_wall
    peak = browser.memory()
    browser.kill()
    return {"renders": len(urls), "wall_s": wall, "cpu_s": meter.seconds() - start_cpu, "peak_mib": peak / 2**20}


def bench_selenium(urls: list[str], path: str, meter: CpuMeter) -> dict[str, float] | None:
    """The same renders through Selenium + chromedriver (DOM + screenshot; no referrer render, no domains)."""
    driver_path = shutil.which("chromedriver")
    try:
        from selenium import webdriver
    except ImportError:
        return None
    if not driver_path:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = path
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    start_wall, start_cpu = time.monotonic(), meter.seconds()
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(20)
    renders, peak = 0, 0
    for url in urls:
        driver.get(url)
        driver.page_source  # noqa: B018 - the DOM, as the CDP client reads it
        driver.get_screenshot_as_png()
        renders += 1
        peak = max(peak, _tree_memory(driver.service.process, path))
    wall = time.monotonic() - start_wall
    driver.quit()
    cpu = meter.seconds() - start_cpu
    return {"renders": renders, "wall_s": wall, "cpu_s": cpu, "peak_mib": peak / 2**20}


def _tree_memory(process: object, path: str) -> int:
    """chromedriver's whole tree, measured with the same code as our browser."""
    tree = Browser(path)
    tree.process = process  # type: ignore[assignment]
    try:
        return tree.memory()
    finally:
        tree.process = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus",
                                                         "defacement"))
    parser.add_argument("--repeat", type=int, default=6, help="judged renders per page after 3 learning ones")
    parser.add_argument("--pages", type=int, default=34)
    parser.add_argument("--selenium", action="store_true", help="also measure Selenium + chromedriver")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    path = find_browser()
    if path is None:
        print("bench/render.py: no chromium found; install Debian's chromium", file=sys.stderr)
        return 2
    folder = os.path.abspath(os.path.join(args.corpus, "legit"))
    pages = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "*.html")))[: args.pages]
    meter = CpuMeter()
    server, base = serve(folder)
    urls = [base + name for name in pages]
    anchor = static_anchor(urls, args.repeat, meter)
    cdp = bench_cdp(urls, args.repeat, path, meter)
    result = {"pages": len(urls), "anchor_static": anchor, "cdp": cdp}
    result["renders_per_cpu_minute"] = round(cdp["renders"] / max(cdp["cpu_s"], 1e-9) * 60, 1)
    result["static_pages_per_cpu_minute"] = round(anchor["pages"] / max(anchor["cpu_s"], 1e-9) * 60, 1)
    result["render_cost_vs_static"] = round(result["static_pages_per_cpu_minute"]
                                            / max(result["renders_per_cpu_minute"], 1e-9), 1)
    result["visual_false_alarm_rate"] = round(cdp["visual_alarms"] / max(cdp["visual_judged"], 1), 4)
    result["goal_300_sites_per_10_min_cores"] = round(300 / (result["renders_per_cpu_minute"] * 10), 2)
    if args.selenium:
        same_tab = bench_cdp_same_tab(urls, path, meter)
        result["cdp_same_tab"] = same_tab
        result["cdp_same_tab_renders_per_cpu_minute"] = round(same_tab["renders"] / max(same_tab["cpu_s"], 1e-9)
                                                              * 60, 1)
        selenium = bench_selenium(urls, path, meter)
        if selenium:
            result["selenium"] = selenium
            result["selenium_renders_per_cpu_minute"] = round(selenium["renders"] / max(selenium["cpu_s"], 1e-9)
                                                              * 60, 1)
    server.shutdown()
    server.server_close()
    result["cpu_measured_by"] = meter.method
    meter.close()
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
