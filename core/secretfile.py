"""Secret files (tokens, keys, credentials): created mode 0600 from the first byte, read back trimmed.

Generated secrets carry a short prefix (`gwe_` enrollment key, `gwa_` agent token, `gwt_` admin token):
a value pasted on a command line can then never begin with `-` (argparse would read it as an option), and
secret scanners can recognise a leaked one. Secrets made before the prefixes stay valid: they are compared
as opaque strings.
"""

from __future__ import annotations

import os
import secrets

SECRET_MODE = 0o600
ENROLL_PREFIX, AGENT_PREFIX, ADMIN_PREFIX = "gwe_", "gwa_", "gwt_"


def new_secret(prefix: str, nbytes: int = 32) -> str:
    """A random URL-safe secret that starts with `prefix` (so never with `-`)."""
    return prefix + secrets.token_urlsafe(nbytes)


def write_secret(path: str, data: bytes | str) -> None:
    """Create `path` with mode 0600 from the first byte on (no window where it is world-readable)."""
    payload = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRET_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
    os.chmod(path, SECRET_MODE)


def read_secret(path: str, what: str) -> str:
    from govwatch.errors import GovwatchError

    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read(64 * 1024).strip()
    except OSError as exc:
        raise GovwatchError(f"cannot read the {what} at {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise GovwatchError(f"the {what} at {path} is not text: is this the right file?") from None
    if not value:
        raise GovwatchError(f"the {what} at {path} is empty")
    return value
