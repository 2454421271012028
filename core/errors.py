"""Errors that reach users as one line and exit code 2, never as a traceback."""

from __future__ import annotations


class GovwatchError(Exception):
    """A problem the user can fix; the CLI prints str(self) on one line and exits 2."""

    exit_code = 2


class ConfigError(GovwatchError):
    """A config or rule file is wrong at a known place: `file:line: key.path: reason`."""

    def __init__(self, file: str, key: str, reason: str, line: int | None = None) -> None:
        self.file, self.key, self.reason, self.line = file, key, reason, line
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


def network_reason(exc: BaseException) -> str:
    """The useful end of a requests/urllib3 error chain ("Connection refused"), not three lines of repr."""
    text = str(exc)
    for marker in ("] ", "Error("):
        if marker in text:
            text = text.rsplit(marker, 1)[-1]
    return text.strip("'\")( ")[:160]
