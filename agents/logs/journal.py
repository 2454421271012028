"""sshd records from the systemd journal: `journalctl -o json -f`, resumed after the saved cursor.

journalctl is the journal's own reader (its files are not a format to parse by hand). Without a saved
cursor it starts at the end (`-n 0`), like the file follower. Lines are read with a length bound; the
process is ended and reaped at stop.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable

log = logging.getLogger("govwatch.logs")
IDENTIFIERS = ("sshd", "sshd-session")


def journal_command(cursor: str | None, binary: str = "journalctl") -> list[str]:
    cmd = [binary, "-o", "json", "-f", "--no-pager"]
    # after a cursor: everything since (--no-tail lifts -f's default of the last 10); else: from now on
    cmd += ["--after-cursor", cursor, "--no-tail"] if cursor else ["-n", "0"]
    return cmd + [f"SYSLOG_IDENTIFIER={name}" for name in IDENTIFIERS]


class JournalFollower:
    """Runs journalctl in a thread; every line goes to `on_line`, which returns the entry's cursor."""

    def __init__(self, on_line: Callable[[str], str | None], max_line: int, cursor: str | None = None,
                 command: Callable[[str | None], list[str]] = journal_command,
                 lock: threading.Lock | None = None) -> None:
        self.on_line, self.max_line = on_line, max_line
        self.cursor = cursor
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None
        self.thread: threading.Thread | None = None
        self.problem: str | None = None
        self.lock = lock or threading.Lock()   # the watcher's: the engine is not thread-safe

    def start(self) -> None:
        try:
            self.proc = subprocess.Popen(self.command(self.cursor), stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        except OSError as exc:
            self.problem = f"cannot run journalctl: {exc.strerror or exc}"
            log.warning("logs: %s; sshd logins are not watched", self.problem)
            return
        self.thread = threading.Thread(target=self._read, name="govwatch-logs-journal", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stream = self.proc.stdout
        skipping = False
        while True:
            raw = stream.readline(self.max_line + 1)
            if not raw:
                break
            if skipping or not raw.endswith(b"\n"):
                skipping = not raw.endswith(b"\n")   # an over-long entry: skip the rest of it
                continue
            with self.lock:
                cursor = self.on_line(raw.decode("utf-8", "replace"))
                if cursor:
                    self.cursor = cursor
        code = self.proc.poll()
        if code not in (None, 0, -15):
            self.problem = f"journalctl exited with status {code}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.thread is not None:
            self.thread.join(10)
            self.thread = None
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
