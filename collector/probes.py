"""Outside probes: fetch each site as a citizen would and time every phase (blackbox_exporter style).

The probe is built on sockets, ssl and http.client rather than requests so each phase (resolve, connect,
TLS, processing = time to first byte, transfer) is measured, the resolved IP is known, and the
certificate is read even when verification fails: an expired certificate is exactly when staff need
its dates. `Prober` runs every site at its own interval on a pool of threads that grows with the work (probepool.py).
"""

from __future__ import annotations

import heapq
import http.client
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from govwatch.collector.probepool import DEFAULT_LIMIT, ElasticPool, socket_budget

log = logging.getLogger(__name__)

MAX_BODY = 2 * 2**20
MAX_REDIRECTS = 10
USER_AGENT = "govwatch-probe/1.0 (+uptime and defacement monitoring)"
REDIRECT_CODES = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class CertInfo:
    """The leaf certificate as served, and whether a browser would accept it."""

    not_before: float
    not_after: float
    subject: str
    issuer: str
    valid: bool
    error: str | None = None


@dataclass
class ProbeResult:
    """What one probe saw. `up` = acceptable status and no error."""

    url: str
    ts: float
    up: bool = False
    status: int | None = None
    error: str | None = None
    duration: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    ip: str | None = None
    final_url: str | None = None
    redirects: int = 0
    https_redirect: bool | None = None  # for http:// sites: did it end on https://?
    cert: CertInfo | None = None
    body: bytes = b""
    content_type: str = ""


class ProbeError(Exception):
    """A probe failure with a short, operator-readable reason."""


class _Deadline:
    """One time budget shared by all phases and redirects of a probe."""

    def __init__(self, timeout: float) -> None:
        self.end = time.monotonic() + timeout

    def left(self, phase: str) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise ProbeError(f"timeout during {phase}")
        return remaining


def parse_cert(der: bytes, valid: bool, error: str | None) -> CertInfo | None:
    """Read dates and names from a DER certificate (works on certificates ssl refused).

    Needs `cryptography` (the `collector` extra); without it probes still measure up/down and TLS validity,
    but certificate dates are unknown (None), never guessed."""
    try:
        from cryptography import x509
    except ImportError:
        log.warning("certificate dates unknown: install 'govwatch[collector]' (the cryptography package)")
        return None
    cert = x509.load_der_x509_certificate(der)
    return CertInfo(not_before=cert.not_valid_before_utc.timestamp(), not_after=cert.not_valid_after_utc.timestamp(),
                    subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
                    valid=valid, error=error)


def _short(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:200]


def _resolve(host: str, port: int, deadline: _Deadline) -> tuple[int, str]:
    deadline.left("resolve")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProbeError(f"DNS: {_short(exc)}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr[0]


def _connect(family: int, ip: str, port: int, deadline: _Deadline, on_socket: Callable | None) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    if on_socket:
        on_socket(sock)
    sock.settimeout(deadline.left("connect"))
    try:
        sock.connect((ip, port))
    except TimeoutError:
        sock.close()
        raise ProbeError("timeout during connect") from None
    except OSError as exc:
        sock.close()
        raise ProbeError(f"connect: {_short(exc)}") from None
    return sock


def _tls(sock: socket.socket, host: str, verify: bool,
         deadline: _Deadline) -> tuple[ssl.SSLSocket, CertInfo | None]:
    """Handshake; on a verification failure hand back an unverified connection and the reason."""
    sock.settimeout(deadline.left("tls"))
    context = ssl.create_default_context() if verify else ssl._create_unverified_context()
    try:
        tls = context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise _VerifyFailed(exc.verify_message or _short(exc)) from None
    except TimeoutError:
        sock.close()
        raise ProbeError("timeout during tls") from None
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        raise ProbeError(f"TLS: {_short(exc)}") from None
    der = tls.getpeercert(binary_form=True)
    return tls, parse_cert(der, valid=verify, error=None) if der else None


class _VerifyFailed(Exception):
    pass


def _open(url: str, verify: bool, deadline: _Deadline, phases: dict[str, float],
          on_socket: Callable | None) -> tuple[socket.socket, str, CertInfo | None, str | None]:
    """Resolve, connect and (for https) handshake; return socket, IP, certificate and a TLS error."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    start = time.monotonic()
    family, ip = _resolve(host, port, deadline)
    phases["resolve"] = phases.get("resolve", 0.0) + time.monotonic() - start
    start = time.monotonic()
    sock = _connect(family, ip, port, deadline, on_socket)
    phases["connect"] = phases.get("connect", 0.0) + time.monotonic() - start
    if parts.scheme != "https":
        return sock, ip, None, None
    start = time.monotonic()
    cert, tls_error = None, None
    try:
        sock, cert = _tls(sock, host, True, deadline)
        if on_socket:
            on_socket(sock)
    except _VerifyFailed as failed:
        # Read the refused certificate anyway: its dates are what the operator needs now.
        tls_error = f"TLS: certificate verify failed: {failed}"
        sock = _connect(family, ip, port, deadline, on_socket)
        sock, cert = _tls(sock, host, False, deadline)
        if on_socket:
            on_socket(sock)
        if cert:
            cert = CertInfo(cert.not_before, cert.not_after, cert.subject, cert.issuer, False, tls_error)
    phases["tls"] = phases.get("tls", 0.0) + time.monotonic() - start
    return sock, ip, cert, tls_error if verify else None


def _request(sock: socket.socket, url: str, deadline: _Deadline, phases: dict[str, float],
             max_body: int) -> tuple[int, str | None, bytes, str]:
    """Send GET over an open socket; return status, Location, body (bounded) and content type."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=deadline.left("processing"))
    conn.sock = sock
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    start = time.monotonic()
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", parts.netloc.rpartition("@")[2])
        for name, value in (("User-Agent", USER_AGENT), ("Accept", "*/*"), ("Connection", "close")):
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        phases["processing"] = phases.get("processing", 0.0) + time.monotonic() - start
        start = time.monotonic()
        sock.settimeout(deadline.left("transfer"))
        body = response.read(max_body) if response.status not in REDIRECT_CODES else b""
        phases["transfer"] = phases.get("transfer", 0.0) + time.monotonic() - start
        return response.status, response.getheader("Location"), body, response.getheader("Content-Type", "")
    except TimeoutError:
        raise ProbeError("timeout during " + ("transfer" if "processing" in phases else "processing")) from None
    except (OSError, http.client.HTTPException) as exc:
        raise ProbeError(f"HTTP: {_short(exc)}") from None
    finally:
        conn.close()


def _acceptable(site: dict[str, Any], status: int) -> bool:
    expected = site.get("expect_status")
    return status in expected if expected else 200 <= status <= 399


def probe_site(site: dict[str, Any], timeout: float | None = None, *, max_body: int = MAX_BODY,
               max_redirects: int = MAX_REDIRECTS, on_socket: Callable[[socket.socket], None] | None = None,
               clock: Callable[[], float] = time.time) -> ProbeResult:
    """Fetch site["url"] following redirects; never raises for network trouble (it goes in `error`)."""
    url = site["url"]
    result = ProbeResult(url=url, ts=clock())
    deadline = _Deadline(timeout if timeout is not None else float(site.get("timeout", 10.0)))
    verify = bool(site.get("verify_tls", True))
    started = time.monotonic()
    tls_error: str | None = None
    try:
        for hop in range(max_redirects + 1):
            sock, ip, cert, hop_tls_error = _open(url, verify, deadline, result.phases, on_socket)
            result.ip = result.ip or ip
            result.cert = result.cert or cert  # the first certificate met: the site's own or its redirect's
            tls_error = tls_error or hop_tls_error
            status, location, body, ctype = _request(sock, url, deadline, result.phases, max_body)
            result.status, result.body, result.content_type = status, body, ctype
            if status not in REDIRECT_CODES or not location:
                break
            url = urljoin(url, location)
            result.redirects = hop + 1
        else:
            raise ProbeError(f"more than {max_redirects} redirects")
    except ProbeError as exc:
        result.error = str(exc)
    result.final_url = url
    if urlsplit(site["url"]).scheme == "http":
        result.https_redirect = urlsplit(url).scheme == "https"
    result.duration = time.monotonic() - started
    if result.error is None and tls_error:
        result.error = tls_error
    if result.error is None and result.status is not None and not _acceptable(site, result.status):
        result.error = f"unexpected HTTP status {result.status}"
    result.up = result.error is None and result.status is not None
    return result


class Prober:
    """Probe every active site at its own interval (with jitter); concurrency grows with the work.

    Every site is scheduled; a site is probed only while `active` (this collector holds its lease, see
    leases.py; all sites by default). A newly activated site is probed at once, so a site taken over
    from a dead collector is not left waiting a whole interval."""

    def __init__(self, sites: list[dict[str, Any]], tracker: Any,
                 on_result: Callable[[dict[str, Any], ProbeResult], None] | None = None,
                 on_change: Callable[[dict[str, Any], ProbeResult, dict[str, Any]], None] | None = None,
                 clock: Callable[[], float] = time.time, workers: int = DEFAULT_LIMIT, jitter: float = 0.1,
                 probe: Callable[..., ProbeResult] = probe_site) -> None:
        self.sites, self.tracker, self.on_result, self.clock = list(sites), tracker, on_result, clock
        self.on_change = on_change  # confirmed up/down changes (site_down incidents)
        self.jitter, self.probe = jitter, probe
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._busy: set[str] = set()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._active: set[str] = {s["name"] for s in self.sites}
        self._urgent: list[int] = []          # sites to probe now (just activated)
        self.probed = 0                       # probes finished (bench figures)
        self.pool = ElasticPool(self._run, limit=socket_budget(workers))
        self._scheduler = threading.Thread(target=self._schedule, name="probe-scheduler", daemon=True)

    def start(self) -> None:
        self._scheduler.start()

    def set_active(self, names: set[str]) -> None:
        """Probe only these sites from now on; the ones new to the set are probed right away."""
        index = {s["name"]: i for i, s in enumerate(self.sites)}
        with self._lock:
            added = names - self._active
            self._active = set(names)
            self._urgent += [index[n] for n in sorted(added) if n in index]
        if added:
            self._wake.set()

    def active(self) -> set[str]:
        with self._lock:
            return set(self._active)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop scheduling, abort probes in flight (close their sockets) and join every thread."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            for sock in list(self._sockets):
                _abort(sock)
        end = time.monotonic() + timeout
        if self._scheduler.is_alive():
            self._scheduler.join(max(0.0, end - time.monotonic()))
        self.pool.close(max(0.0, end - time.monotonic()))

    def _first_round(self) -> list[tuple[float, int]]:
        """Spread the first round (about 50 new probes a second at most, within one interval) so a long
        site list does not burst at start-up."""
        now, spread = time.monotonic(), len(self.sites) / 50.0
        return [(now + random.uniform(0, min(float(s["interval"]), max(spread, min(5.0, float(s["interval"])
                                                                                  * self.jitter)))), i)
                for i, s in enumerate(self.sites)]

    def _schedule(self) -> None:
        due = self._first_round()
        heapq.heapify(due)
        while due and not self._stop.is_set():
            self._submit_urgent()
            when, index = due[0]
            self._wake.wait(max(0.0, when - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                break
            if due[0][0] > time.monotonic():
                continue          # woken early: urgent sites first, then wait again
            heapq.heappop(due)
            site = self.sites[index]
            self._submit(site)
            interval = float(site["interval"])
            heapq.heappush(due, (when + interval * (1 + random.uniform(-self.jitter, self.jitter)), index))

    def _submit_urgent(self) -> None:
        with self._lock:
            urgent, self._urgent = self._urgent, []
        for index in urgent:
            self._submit(self.sites[index])

    def _submit(self, site: dict[str, Any]) -> None:
        with self._lock:
            if site["name"] not in self._active or site["name"] in self._busy:
                return          # not ours to probe, or still in flight: a slow site is never probed twice at once
            self._busy.add(site["name"])
        self.pool.submit(site)

    def _run(self, site: dict[str, Any]) -> None:
        try:
            if not self._stop.is_set():
                self._probe_one(site)
        finally:
            with self._lock:
                self._busy.discard(site["name"])

    def _probe_one(self, site: dict[str, Any]) -> None:
        opened: list[socket.socket] = []

        def track(sock: socket.socket) -> None:
            with self._lock:
                self._sockets.add(sock)
            opened.append(sock)

        try:
            result = self.probe(site, float(site.get("timeout", 10.0)), on_socket=track, clock=self.clock)
        finally:
            with self._lock:
                self._sockets.difference_update(opened)
        if self._stop.is_set():
            return  # aborted by stop(): not a real failure of the site
        with self._lock:
            self.probed += 1
        change = self.tracker.record(site, result)
        if change and self.on_change is not None:
            self.on_change(site, result, change)
        if self.on_result is not None:
            self.on_result(site, result)


def _abort(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
