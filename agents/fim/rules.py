"""FIM rules: severity by what changed and where, from house-style YAML in rules/fim/.

Each change becomes a flat *record* that rules match with `match:` selections (core/rules.py):

  path            full path                      name        base name (`x.php`)
  rel             path below its root, starting with / (`/wp-content/cache/x.html`)
  ext             last suffix, lower case (`.php`, '' if none)
  dir             parent folder                  change      created | modified | deleted | attributes
  type            file | dir | symlink | fifo | socket | char | block | other
  root            the watched root it is under   web_root    true when that root is a web root
  in_upload_dir   a path component is an upload folder (uploads, upload, files, media, images, attachments)
  script          ext is a server-side script (.php .phtml .phar .php3-8 .jsp .asp .aspx .cgi .pl .py .sh ...)
  size            bytes after the change (before, when deleted)
  mode            permission bits as octal text (`0644`); world_writable, executable, setuid: booleans
  target          symlink target; link_outside: the symlink points outside its root
  content_markers web-shell marker names found in the content (evidence.MARKERS)
  old_path        the previous path of a renamed file, else null

Rule keys beyond the common ones: `action: alert|ignore` (ignore silences a change: caches, logs,
sessions) and `always: true` (this rule's hit is reported even where an ignore rule matched: web-shell
markers in a cache folder are still a web shell). Local exceptions never edit shipped rules: they go in
the watcher's `exceptions:` list (user-known benign changes, same selection syntax).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from govwatch.errors import ConfigError
from govwatch.events import SEVERITY_RANK
from govwatch.rules import Rule, compile_match, load_rules, rules_dir

SCRIPT_EXTS = frozenset({".php", ".phtml", ".phar", ".php3", ".php4", ".php5", ".php7", ".php8", ".pht", ".phps",
                         ".inc", ".jsp", ".jspx", ".asp", ".aspx", ".ashx", ".asmx", ".cgi", ".pl", ".py", ".sh",
                         ".shtml"})
UPLOAD_DIRS = frozenset({"uploads", "upload", "files", "media", "images", "attachments", "userfiles"})
DEFAULT_SEVERITY = "low"


@dataclass(frozen=True)
class Verdict:
    """What the rules make of one change."""

    severity: str
    rule_ids: list[str] = field(default_factory=list)
    ignored: bool = False
    summary: str = ""


def default_rules_dir() -> str | None:
    folder = rules_dir("fim")
    return folder if os.path.isdir(folder) else None


def _check_body(raw: dict[str, Any]) -> None:
    if "match" not in raw:
        raise ValueError("a FIM rule needs a match block")
    if raw.get("action", "alert") not in ("alert", "ignore"):
        raise ValueError("action must be alert or ignore")
    if not isinstance(raw.get("always", False), bool):
        raise ValueError("always must be true or false")


def build_record(path: str, change: str, root: str, web_root: bool, state: Any = None,
                 markers: list[str] | None = None, old_path: str | None = None) -> dict[str, Any]:
    """The flat record rules see for one change (`state` is the after state, or before when deleted)."""
    name = os.path.basename(path)
    ext = os.path.splitext(name)[1].lower()
    parts = {p.lower() for p in path.split("/")[:-1]}
    mode = getattr(state, "mode", 0) or 0
    target = getattr(state, "target", None)
    outside = bool(target) and not _inside(os.path.dirname(path), target, root)
    rel = path[len(root.rstrip("/")):] if root and path.startswith(root) else path
    return {"path": path, "rel": rel or "/", "name": name, "ext": ext, "dir": os.path.dirname(path), "change": change,
            "type": getattr(state, "type", "file"), "root": root, "web_root": web_root,
            "in_upload_dir": bool(parts & UPLOAD_DIRS), "script": ext in SCRIPT_EXTS,
            "size": getattr(state, "size", 0), "mode": f"{mode:04o}", "world_writable": bool(mode & 0o002),
            "executable": bool(mode & 0o111), "setuid": bool(mode & 0o6000), "target": target,
            "link_outside": outside, "content_markers": list(markers or []), "old_path": old_path}


def _inside(folder: str, target: str, root: str) -> bool:
    resolved = os.path.normpath(os.path.join(folder, target))
    return resolved == root or resolved.startswith(root.rstrip("/") + "/")


def record_for_test(event: dict[str, Any]) -> dict[str, Any]:
    """A full record from a rule test's partial event: derived fields filled, given ones win."""
    path = event.get("path", "/var/www/html/index.html")
    root = event.get("root", "/var/www/html" if path.startswith("/var/www/html") else os.path.dirname(path))
    record = build_record(path, event.get("change", "modified"), root, event.get("web_root", True))
    record.update(event)
    return record


class FimRules:
    """The loaded rule set plus local exceptions; `judge(record)` gives the Verdict."""

    def __init__(self, rules: list[Rule], exceptions: list[dict[str, Any]] | None = None) -> None:
        self.rules = rules
        self.exceptions = [compile_match({"sel": {k: v for k, v in e.items() if k != "reason"}, "condition": "sel"})
                           for e in exceptions or []]

    @classmethod
    def load(cls, folder: str | None = None, exceptions: list[dict[str, Any]] | None = None) -> FimRules:
        folder = folder or default_rules_dir()
        if folder is None:
            raise ConfigError("rules/fim", "", "FIM rules folder not found (set GOVWATCH_RULES or fim.rules)")
        rules = load_rules(folder, "fim", extra_keys={"action", "always"}, check_body=_check_body)
        try:
            return cls(rules, exceptions)
        except ValueError as exc:
            raise ConfigError("fim.exceptions", "", str(exc)) from None

    def judge(self, record: dict[str, Any]) -> Verdict:
        hits = [r for r in self.rules if r.matches(record)]
        ignored = any(r.raw.get("action") == "ignore" for r in hits) or any(e(record) for e in self.exceptions)
        alerts = [r for r in hits if r.raw.get("action", "alert") == "alert" and (not ignored or r.raw.get("always"))]
        if not alerts:
            summary = f"{record['change']} {record['path']}"
            return Verdict(DEFAULT_SEVERITY if not ignored else "info", [r.id for r in hits], ignored and not alerts,
                           summary)
        top = max(alerts, key=lambda r: SEVERITY_RANK[r.severity])
        return Verdict(top.severity, [r.id for r in alerts], False, top.render(record))

    def judge_change(self, change: Any, roots: list[str], web_roots: list[str],
                     markers: list[str] | None = None) -> Verdict:
        """Verdict for a scan Change (used by the one-shot scan)."""
        root = next((r for r in roots if change.path == r or change.path.startswith(r.rstrip("/") + "/")), "")
        state = change.after or change.before
        record = build_record(change.path, change.change, root, root in web_roots, state, markers, change.old_path)
        return self.judge(record)
