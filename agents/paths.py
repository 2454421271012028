"""File names are bytes: carry them losslessly, show them escaped, and never let one break the spool.

Python holds a non-UTF-8 name (`bad-\\xff.php` on disk) as a str with a lone surrogate
(surrogateescape), which no UTF-8 JSON can hold. An event therefore carries the *display* form (every
undecodable byte written as `\\xNN`, readable and safe in a console) in the usual field, and the exact
bytes in `<field>_b64` (standard base64) beside it, only when the two differ. `safe_json` is the last
line of defence in the spool: any other string that cannot be encoded is replaced by its display form.
"""

from __future__ import annotations

import base64
import math
from typing import Any


def raw_bytes(text: str) -> bytes:
    """The bytes a str from the file system stands for (surrogateescape), lone surrogates kept as-is."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display(text: str) -> str:
    """`text` as valid UTF-8 with undecodable bytes shown as `\\xNN` (identity for clean text)."""
    if encodable(text):
        return text
    return raw_bytes(text).decode("utf-8", "backslashreplace")


def b64(text: str) -> str | None:
    """Base64 of the exact bytes, or None when `text` is clean UTF-8 (then the field itself is exact)."""
    return None if encodable(text) else base64.b64encode(raw_bytes(text)).decode("ascii")


def with_raw(data: dict[str, Any], field: str, value: str | None) -> None:
    """Set `data[field]` to the display form of `value`, and `data[field + '_b64']` when it was lossy."""
    if value is None:
        data[field] = None
        return
    data[field] = display(value)
    raw = b64(value)
    if raw is not None:
        data[field + "_b64"] = raw


def from_event(data: dict[str, Any], field: str) -> str | None:
    """The exact file-system str of `data[field]` (reverse of `with_raw`)."""
    raw = data.get(field + "_b64")
    if isinstance(raw, str):
        return base64.b64decode(raw).decode("utf-8", "surrogateescape")
    value = data.get(field)
    return value if isinstance(value, str) else None


def safe_json(value: Any) -> Any:
    """A copy of `value` that strict UTF-8 JSON can hold: strings in display form, NaN/Infinity as None."""
    if isinstance(value, str):
        return display(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {display(str(k)) if isinstance(k, str) else k: safe_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_json(v) for v in value]
    return value
