"""The system's headless Chromium as a child process: found, started, measured, killed.

Started as root (the CLI in tests and CI), the browser runs as the unprivileged system account
`govwatch-render` (created when missing, `nobody` when that fails), with a fresh profile folder that
account owns, so Chromium's own sandbox stays on: no `--no-sandbox`. Only when Chromium reports that
no sandbox can work here is it restarted without one, with a warning in the log and in
`Browser.sandbox`. The flags keep a browser with no network from calling home (background networking,
component updates, sync, QUIC) and from filling the log with refused connections.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

from govwatch.collector.render.cdp import CDPError, Connection
from govwatch.collector.render.profiles import new_profile_dir

log = logging.getLogger("govwatch.collector.render")

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
RENDER_USER = "govwatch-render"
FLAGS = ("--headless=new", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic", "--no-default-browser-check", "--disable-pings",
         "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps", "--mute-audio",
         "--disable-breakpad", "--disable-crash-reporter", "--disable-features=MediaRouter,OptimizationHints,"
         "Translate,AutofillServerCommunication,InterestFeedContentSuggestions,CertificateTransparencyComponentUpdater",
         "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain", "--hide-scrollbars",
         "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "--js-flags=--max-old-space-size=384")
NO_SANDBOX_MARKERS = ("No usable sandbox", "sandbox_host_linux", "Failed to move to new namespace")


# A collector killed with SIGKILL must not leave browsers behind: the kernel kills ours when the thread that
# started it goes (util-linux setpriv sets the parent-death signal just before exec; no preexec_fn in a
# threaded process). Renderers and zygotes exit by themselves once the browser is gone.
_DIE_WITH_US = ("setpriv", "--pdeathsig", "KILL", "--") if shutil.which("setpriv") else ()


class BrowserError(Exception):
    """The browser cannot be found or started; the message says why in one line."""


def find_browser(configured: str | None = None) -> str | None:
    """The configured browser path if executable, else the first Chromium on PATH."""
    if configured:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _real_binary(path: str) -> str:
    """Debian's /usr/bin/chromium is a shell wrapper; start the binary itself (one process fewer, no flags
    added behind our back such as --enable-remote-extensions)."""
    direct = "/usr/lib/chromium/chromium"
    if os.path.realpath(path) == "/usr/bin/chromium" and os.access(direct, os.X_OK):
        return direct
    return path


@dataclass(frozen=True)
class Account:
    """Who the browser runs as: uid/gid (None = as ourselves) and a name for the log."""

    name: str
    uid: int | None = None
    gid: int | None = None


def render_account(create: bool = True) -> Account:
    """As root: the unprivileged render account (created if missing, else `nobody`); otherwise ourselves."""
    if os.geteuid() != 0:
        return Account(pwd.getpwuid(os.geteuid()).pw_name)
    for attempt in range(2):
        try:
            entry = pwd.getpwnam(RENDER_USER)
            return Account(RENDER_USER, entry.pw_uid, entry.pw_gid)
        except KeyError:
            if attempt or not create or not shutil.which("useradd"):
                break
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                            "--shell", "/usr/sbin/nologin", RENDER_USER], capture_output=True, timeout=30, check=False)
    entry = pwd.getpwnam("nobody")
    return Account("nobody", entry.pw_uid, entry.pw_gid)


class Browser:
    """One running Chromium and its DevTools connection; `start()` again after `kill()` for a fresh one."""

    def __init__(self, path: str, account: Account | None = None, start_timeout: float = 30.0,
                 tmp_root: str | None = None) -> None:
        self.path, self.account, self.start_timeout, self.tmp_root = path, account, start_timeout, tmp_root
        self.process: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.profile_dir: str | None = None
        self.sandbox = "on"
        self.starts = 0
        self.killed_for: str | None = None   # set by whoever killed it on purpose (the memory watchdog)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self.conn is not None \
            and not self.conn.closed.is_set()

    def start(self) -> None:
        """Start a fresh browser (a new profile folder); fall back without sandbox only if it cannot work."""
        self.kill()
        self.killed_for = None
        account = self.account or render_account()
        self.account = account
        try:
            self._launch(account, sandbox=self.sandbox == "on")
        except BrowserError as exc:
            if self.sandbox == "on" and any(marker in str(exc) for marker in NO_SANDBOX_MARKERS):
                self.sandbox = f"off: Chromium's sandbox cannot start here ({str(exc)[:160]})"
                log.warning("rendering WITHOUT the browser sandbox: %s", self.sandbox)
                self._launch(account, sandbox=False)
            else:
                raise
        self.starts += 1

    def _launch(self, account: Account, sandbox: bool) -> None:
        self.kill()
        self.profile_dir = new_profile_dir(self.tmp_root, account.uid)
        if account.uid is not None:
            os.chown(self.profile_dir, account.uid, account.gid or 0)
        os.chmod(self.profile_dir, 0o700)
        log_path = os.path.join(self.profile_dir, "chromium.log")
        args = [*_DIE_WITH_US, _real_binary(self.path), *FLAGS, f"--user-data-dir={self.profile_dir}"]
        if not sandbox:
            args.append("--no-sandbox")
        env = {"PATH": "/usr/bin:/bin", "HOME": self.profile_dir, "TMPDIR": self.profile_dir, "LANG": "C.UTF-8"}
        with open(log_path, "wb") as logfile:
            if account.uid is not None:
                os.chown(log_path, account.uid, account.gid or 0)
            try:
                self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    [*args, "about:blank"], stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile, env=env,
                    cwd=self.profile_dir, start_new_session=True, user=account.uid, group=account.gid,
                    extra_groups=[] if account.uid is not None else None)
            except OSError as exc:
                raise BrowserError(f"{self.path}: cannot start: {exc.strerror}") from None
        self.conn = Connection(self._devtools_url(log_path))

    def _devtools_url(self, log_path: str) -> str:
        """Wait for DevToolsActivePort (Chromium writes it once it listens); say why when it dies first."""
        port_file = os.path.join(self.profile_dir or "", "DevToolsActivePort")
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrowserError(f"{self.path} exited with {self.process.returncode} at start: {_tail(log_path)}")
            try:
                with open(port_file, encoding="ascii") as handle:
                    lines = handle.read().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{int(lines[0])}{lines[1]}"
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        self.kill()
        raise BrowserError(f"{self.path} did not open its DevTools port within {self.start_timeout:.0f}s")

    def ping(self, timeout: float = 5.0) -> bool:
        """True if the browser process answers a trivial command in time."""
        if not self.alive or self.conn is None:
            return False
        try:
            self.conn.call("Browser.getVersion", timeout=timeout)
            return True
        except CDPError:
            return False

    def pids(self) -> list[int]:
        """The browser process and all its children (renderers, zygotes, utility processes)."""
        if self.process is None or self.process.poll() is not None:
            return []
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                        todo.extend(int(child) for child in handle.read().split())
            except OSError:
                continue
        return found

    def memory(self) -> int:
        """Proportional set size of the whole browser tree in bytes (shared pages counted once)."""
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
                    for line in handle:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1]) * 1024
                            break
            except (OSError, ValueError):
                continue
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time of the live browser tree (for the benchmark)."""
        ticks, hz = 0, os.sysconf("SC_CLK_TCK")
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
            except (OSError, ValueError, IndexError):
                continue
        return ticks / hz

    def kill_process(self) -> None:
        """SIGKILL the browser's process group (its renders in flight fail at once)."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """Kill the browser's whole process group and remove its profile folder."""
        self.kill_process()
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log.warning("browser process %d did not exit after SIGKILL", self.process.pid)
            self.process = None
        if self.profile_dir:
            shutil.rmtree(self.profile_dir, ignore_errors=True)
            self.profile_dir = None


def _tail(path: str, size: int = 400) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 4000))
            lines = [line for line in handle.read().decode("utf-8", "replace").splitlines()
                     if "dbus" not in line.lower() and line.strip()]
    except OSError:
        return "no log"
    return " | ".join(lines[-3:])[-size:] or "no output"
