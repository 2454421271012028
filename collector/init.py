"""`govwatch collector init`: a working collector.yml, a private CA, a server certificate and secrets.

Secrets (CA key, server key, admin token, enrollment key) are written mode 0600 and never overwritten
without --force, so re-running init cannot silently lock every enrolled agent out.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from typing import Any

from govwatch.errors import GovwatchError
from govwatch.secretfile import ADMIN_PREFIX, ENROLL_PREFIX, SECRET_MODE, new_secret, read_secret, write_secret

__all__ = ["SECRET_MODE", "init_collector", "make_certificates", "read_secret", "rotate_enroll_key", "write_secret"]

COLLECTOR_YML = """\
# govwatch collector configuration. Reference: README.md ("Collector configuration").
listen: {listen}                 # HOST:PORT; TLS is required off loopback
data_dir: {data_dir}             # SQLite store (govwatch.db) lives here
tls: {{cert: server.pem, key: server-key.pem}}
admin_token_file: admin-token    # console first login and admin API (Bearer)
# console_url: https://govwatch.example.gov.kh:8443   # links to incidents and screenshots in reports
enroll_key_file: enroll-key      # agents enroll with this key; rotate it with `govwatch collector rotate-enroll-key`
agent_silent_after: 3m
sites: []                        # probed from outside: uptime, TLS, defacement as citizens see it
#  - {{name: moc-home, url: "https://www.moc.gov.kh/", ministry: MoC, interval: 60s}}
maintenance: []
#  - {{site: moc-home, start: "2026-10-04T22:00+07:00", end: "2026-10-05T02:00+07:00", reason: "server upgrade"}}
"""


def _names(extra: list[str]) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    try:
        names.append(socket.getfqdn())
    except OSError:
        pass
    return list(dict.fromkeys(n for n in names + extra if n))


def make_certificates(directory: str, sans: list[str], days: int = 825) -> None:
    """A private CA (ca.pem/ca-key.pem) and a server certificate signed by it for `sans`.

    With the `collector` extra this uses `cryptography`; a plain `pip install govwatch` (agent-sized) falls
    back to the `openssl` command every Linux server has, so `collector init` works either way."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        _openssl_certificates(directory, sans, days)
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "govwatch collector CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[Any] = []
    for name in sans:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sans[-1] if sans else "govwatch")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    private = {"encoding": pem, "format": serialization.PrivateFormat.PKCS8,
               "encryption_algorithm": serialization.NoEncryption()}
    write_secret(os.path.join(directory, "ca-key.pem"), ca_key.private_bytes(**private))
    write_secret(os.path.join(directory, "server-key.pem"), key.private_bytes(**private))
    with open(os.path.join(directory, "ca.pem"), "wb") as handle:
        handle.write(ca_cert.public_bytes(pem))
    with open(os.path.join(directory, "server.pem"), "wb") as handle:
        handle.write(cert.public_bytes(pem) + ca_cert.public_bytes(pem))


def _openssl_certificates(directory: str, sans: list[str], days: int) -> None:
    """The same CA and server certificate (EC P-256, SHA-256) made with the openssl command."""
    import shutil
    import tempfile

    if shutil.which("openssl") is None:
        raise GovwatchError("collector init needs either the cryptography package (pip install "
                            "'govwatch[collector]') or the openssl command to make certificates")
    names = []
    for name in sans:
        try:
            names.append(f"IP:{ipaddress.ip_address(name)}")
        except ValueError:
            names.append(f"DNS:{name}")
    path = {n: os.path.join(directory, n) for n in ("ca.pem", "ca-key.pem", "server.pem", "server-key.pem")}
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    old = os.umask(0o077)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ext, csr, leaf = (os.path.join(tmp, n) for n in ("ext.cnf", "server.csr", "server.pem"))
            with open(ext, "w", encoding="utf-8") as handle:
                handle.write(f"basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"
                             f"subjectAltName={','.join(names)}\n")
            _run(["openssl", "req", "-x509", *curve, "-keyout", path["ca-key.pem"], "-out", path["ca.pem"],
                  "-days", "3650", "-subj", "/CN=govwatch collector CA", "-addext",
                  "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            _run(["openssl", "req", "-new", *curve, "-keyout", path["server-key.pem"], "-out", csr,
                  "-subj", f"/CN={sans[-1] if sans else 'govwatch'}"])
            _run(["openssl", "x509", "-req", "-in", csr, "-CA", path["ca.pem"], "-CAkey", path["ca-key.pem"],
                  "-CAcreateserial", "-CAserial", os.path.join(tmp, "ca.srl"), "-days", str(days),
                  "-sha256", "-extfile", ext, "-out", leaf])
            with open(leaf, "rb") as a, open(path["ca.pem"], "rb") as b, open(path["server.pem"], "wb") as out:
                out.write(a.read() + b.read())
    finally:
        os.umask(old)
    for name in ("ca.pem", "server.pem"):
        os.chmod(path[name], 0o644)
    for name in ("ca-key.pem", "server-key.pem"):
        os.chmod(path[name], SECRET_MODE)


def _run(command: list[str]) -> None:
    import subprocess

    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise GovwatchError(f"{command[0]} {command[1]} failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")


def init_collector(data_dir: str, listen: str = "127.0.0.1:8443", sans: list[str] | None = None,
                   force: bool = False) -> list[str]:
    """Write everything a collector needs into `data_dir`; return the files written."""
    os.makedirs(data_dir, mode=0o750, exist_ok=True)
    config = os.path.join(data_dir, "collector.yml")
    existing = [f for f in ("collector.yml", "admin-token", "enroll-key", "server-key.pem")
                if os.path.exists(os.path.join(data_dir, f))]
    if existing and not force:
        raise GovwatchError(f"{data_dir} already holds {', '.join(existing)}; use --force to replace "
                            "(enrolled agents keep their credentials, but the admin token changes)")
    make_certificates(data_dir, _names(sans or []))
    write_secret(os.path.join(data_dir, "admin-token"), new_secret(ADMIN_PREFIX) + "\n")
    write_secret(os.path.join(data_dir, "enroll-key"), new_secret(ENROLL_PREFIX, 24) + "\n")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(COLLECTOR_YML.format(listen=listen, data_dir="."))
    return [config] + [os.path.join(data_dir, f) for f in
                       ("ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "admin-token", "enroll-key")]


def rotate_enroll_key(path: str) -> str:
    key = new_secret(ENROLL_PREFIX, 24)
    write_secret(path, key + "\n")
    return key
