"""Network failures towards the collector, explained as a person fixes them (not as urllib3 reports them).

The common day-one mistakes each get one sentence and the fix: `http://` against the TLS port (the server
just resets the connection), `https://` against a plain port, a mistyped scheme (`htps://`), a certificate
signed by the collector's private CA without `--ca-file`, a host nobody answers on.
"""

from __future__ import annotations

import re
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from govwatch.errors import network_reason


def scheme_problem(url: str) -> str | None:
    """Why `url` cannot be a collector URL, or None."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        guess = "https" if parts.scheme.startswith(("ht", "hp", "tt")) else "http or https"
        return f"{url!r} must start with http:// or https:// (got {parts.scheme or 'no'} scheme; did you mean {guess}://?)"
    if not parts.hostname:
        return f"{url!r} has no host name (write e.g. https://collector:8443)"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"{url!r} has a bad port number"
    return None


def speaks_tls(host: str, port: int, timeout: float = 3.0) -> bool:
    """Whether HOST:PORT completes a TLS handshake (certificate not checked: we only ask which protocol)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host):
            return True
    except (OSError, ssl.SSLError):
        return False


def explain(url: str, exc: BaseException, ca_hint: str = "pass --ca-file with the collector's ca.pem") -> str:
    """One line saying what went wrong talking to `url` and what to do about it."""
    import requests

    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"{host}:{port}"
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
            return f"{where} answers plain HTTP, not TLS: use http://{where} (or enable tls in collector.yml)"
        if "CERTIFICATE_VERIFY_FAILED" in text and ("mismatch" in text or "match" in text):
            return (f"the certificate at {where} is not valid for the name {host!r}: use the name it was made for, "
                    "or re-create it with `govwatch collector init --san NAME --force`")
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return f"TLS verification of {url} failed: the certificate is not trusted ({_ssl_reason(exc)}) ({ca_hint})"
        return f"TLS with {where} failed: {_ssl_reason(exc)}"
    if isinstance(exc, requests.exceptions.InvalidSchema | requests.exceptions.MissingSchema |
                  requests.exceptions.InvalidURL):
        return scheme_problem(url) or f"{url!r} is not a usable URL"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer from {where} in time: is a firewall dropping the port, or the collector overloaded?"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return _connection(url, where, host, port, exc)
    return f"talking to {where} failed: {network_reason(exc)}"


def _ssl_reason(exc: BaseException) -> str:
    """`self-signed certificate in certificate chain`, without urllib3's wrapping or ssl's C source line."""
    reason = re.sub(r"\s*\(_ssl\.c:\d+\)?", "", network_reason(exc))
    return reason.removeprefix("certificate verify failed: ").strip("() ")


def _connection(url: str, where: str, host: str, port: int, exc: Any) -> str:
    text = str(exc)
    if "Name or service not known" in text or "NameResolutionError" in text or "getaddrinfo" in text:
        return f"cannot resolve the host name {host!r}: check the spelling, DNS or /etc/hosts"
    if url.startswith("http://") and speaks_tls(host, port):
        return f"{where} speaks TLS (https): use https://{where} instead of http://{where}"
    if "refused" in text.lower():
        return f"nothing answers at {where} (connection refused): is the collector running and the port right?"
    if "reset" in text.lower() or "RemoteDisconnected" in text or "aborted" in text.lower():
        return f"{where} closed the connection ({network_reason(exc)}): is this the collector's port?"
    return f"cannot reach the collector at {where}: {network_reason(exc)}"
