"""A real PostgreSQL for tests, started from the Debian binaries in a temporary folder.

`PgServer.start()` runs initdb + pg_ctl (through `runuser -u postgres` when the tests run as root, since
PostgreSQL refuses to run as root), listening on 127.0.0.1 on a free port only; `fresh_database()` gives each
test its own empty database. `skip_reason()` says why no server can be started (binaries missing).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

PG_GLOB = "/usr/lib/postgresql/*/bin"


def pg_bin() -> str | None:
    found = sorted(glob.glob(PG_GLOB), key=lambda p: [int(x) for x in p.split("/")[-2].split(".") if x.isdigit()])
    return next((p for p in reversed(found) if os.access(os.path.join(p, "initdb"), os.X_OK)), None)


def skip_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None."""
    if pg_bin() is None:
        return "PostgreSQL server binaries missing (Debian package postgresql: /usr/lib/postgresql/*/bin/initdb)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root without runuser to drop to the postgres user"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster in a temporary folder; stop() removes it."""

    speed = "-c fsync=off -c full_page_writes=off"   # tests need no durability; a benchmark sets "" (durable)

    def __init__(self) -> None:
        self.bin = pg_bin() or ""
        self.root = tempfile.mkdtemp(prefix="govwatch-pg-")
        os.chmod(self.root, 0o755)
        self.data, self.sock = os.path.join(self.root, "data"), os.path.join(self.root, "sock")
        self.log = os.path.join(self.sock, "server.log")  # a folder the server user owns
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check)

    def start(self) -> PgServer:
        os.makedirs(self.data)
        os.makedirs(self.sock)
        if self.as_root:
            entry = pwd.getpwnam("postgres")
            for path in (self.data, self.sock):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
        self.pg_ctl_start()
        return self

    def pg_ctl_start(self) -> None:
        options = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c max_connections=200 {self.speed}"
        done = self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", self.log, "-o", options,
                         "-w", "-t", "120", "start", check=False)
        if done.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr.strip()} {self.log_tail()}")

    def stop(self, mode: str = "immediate") -> None:
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        self.stop("fast")
        self.pg_ctl_start()

    def log_tail(self) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-500:]
        except OSError:
            return ""

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """A new empty database; its DSN."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def drop_database(self, dsn: str) -> None:
        import psycopg

        name = dsn.rsplit("/", 1)[1]
        deadline = time.monotonic() + 30
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            while True:
                try:
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                    return
                except psycopg.Error:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
