"""Log rules: one house-style YAML file per detector in rules/logs/, holding its thresholds and its tests.

Same shape as rules/traffic: a rule names its `detector`, overrides documented `params` (unknown knobs are
refused at file:line), may `allow` CIDRs (sources never reported) and carries `tests` — feature records with
the verdict expected from `decide`, the very function the live detector calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from govwatch.detector_rules import DetectorRule, check_allow_and_tests, load_detectors
from govwatch.detector_rules import self_test as self_test  # re-exported: `test-rules` calls rules.self_test

KINDS = ("web_brute_force", "vuln_probe", "webshell_use", "path_flood", "source_flood", "ssh_brute_force",
         "ssh_user_sweep", "login_after_guessing")
LOGIN_PATHS = ["/wp-login.php", "/xmlrpc.php", "/administrator/index.php", "/administrator/", "/user/login",
               "/?q=user/login", "/phpmyadmin/index.php", "/phpmyadmin/", "/pma/index.php", "/login/",
               "/login/?login_only=1"]
SCANNER_AGENTS = ["sqlmap", "nikto", "nmap", "masscan", "zgrab", "nuclei", "wpscan", "dirbuster", "gobuster",
                  "wfuzz", "ffuf", "feroxbuster", "acunetix", "nessus", "openvas", "netsparker", "whatweb",
                  "joomscan", "droopescan", "hydra", "jorgee", "zmeu", "dirb/", "arachni", "skipfish"]
PROBES = {
    "secrets": ["/.env", "/.git/", "/.git/config", "/.svn/", "/.hg/", "/.ds_store", "/.htpasswd", "/.aws/",
                "wp-config.php.bak", "wp-config.php~", "wp-config.php.save", "wp-config.php.old", "wp-config.bak",
                "configuration.php.bak", "/config.php.bak", ".sql.gz", "/backup.sql", "/dump.sql", "/db.sql",
                "/backup.zip", "/backup.tar.gz", "/.ssh/", "/id_rsa", "/phpinfo.php", "/info.php", "/server-status"],
    "admin_panels": ["/phpmyadmin", "/pma/", "/myadmin/", "/mysqladmin/", "/adminer.php", "/manager/html",
                     "/jmx-console", "/solr/admin", "/actuator/", "/jenkins/", "/webdav/", "/cgi-bin/",
                     "/boaform/", "/hnap1", "/wp-admin/setup-config.php", "/install.php", "/setup.php"],
    "traversal": ["../", "..\\", "/etc/passwd", "/etc/shadow", "win.ini", "/proc/self/environ", "boot.ini"],
    "sqli": ["union select", "union all select", "' or '1'='1", "\" or \"1\"=\"1", "' or 1=1", " or 1=1--",
             "sleep(", "benchmark(", "information_schema", "waitfor delay", "extractvalue(", "updatexml(",
             "load_file(", "0x7e"],
    "xss": ["<script", "javascript:", "onerror=", "onload=", "<svg", "alert(", "document.cookie", "<iframe"],
    "rce": ["${jndi:", "/bin/sh", "/bin/bash", "cmd.exe", "base64_decode(", "eval(", "system(", "passthru(",
            "shell_exec", "allow_url_include", "php://input", "auto_prepend_file", "wget http", "curl http",
            "() {"],
}
SCRIPT_EXTS = [".php", ".phtml", ".phar", ".php3", ".php4", ".php5", ".php7", ".pht", ".jsp", ".jspx", ".asp",
               ".aspx", ".ashx", ".cgi", ".pl", ".py", ".sh"]
UPLOAD_DIRS = ["uploads", "upload", "files", "media", "images", "attachments", "userfiles", "tmp", "cache"]

# detector -> {param: default}; a rule may override any of these and nothing else.
PARAMS: dict[str, dict[str, Any]] = {
    "web_brute_force": {"window": 300.0, "min_attempts": 10, "failure_status": [200, 401, 403],
                        "login_paths": LOGIN_PATHS, "distributed_min_attempts": 300, "distributed_min_sources": 20,
                        "quiet": 120.0},
    "vuln_probe": {"window": 60.0, "min_probes": 5, "min_scanner_requests": 3, "scanner_agents": SCANNER_AGENTS,
                   "patterns": PROBES, "quiet": 120.0},
    "webshell_use": {"script_exts": SCRIPT_EXTS, "upload_dirs": UPLOAD_DIRS, "min_requests": 1,
                     "new_file_memory": 86400.0, "quiet": 300.0},
    "path_flood": {"window": 10.0, "min_requests": 300, "factor": 5.0, "initial_baseline": 10.0,
                   "baseline_alpha": 0.05, "min_requests_per_source": 5.0, "max_paths": 5000, "quiet": 30.0},
    "source_flood": {"min_requests": 300, "quiet": 30.0},
    "ssh_brute_force": {"window": 300.0, "min_failures": 6, "quiet": 120.0},
    "ssh_user_sweep": {"window": 300.0, "min_invalid_users": 5, "quiet": 120.0},
    "login_after_guessing": {"lookback": 60.0, "min_failures": 3, "success_status": [301, 302, 303],
                             "quiet": 300.0},
}


def _web_brute(p: dict[str, Any], f: dict[str, Any]) -> bool:
    return bool(f.get("attempts", 0) >= p["min_attempts"]
                or (f.get("distributed_attempts", 0) >= p["distributed_min_attempts"]
                    and f.get("sources", 0) >= p["distributed_min_sources"]))


def _vuln_probe(p: dict[str, Any], f: dict[str, Any]) -> bool:
    return bool(f.get("probes", 0) >= p["min_probes"] or f.get("scanner_requests", 0) >= p["min_scanner_requests"])


def _webshell(p: dict[str, Any], f: dict[str, Any]) -> bool:
    suspicious = f.get("fim_created") or f.get("upload_post") or f.get("upload_script_served")
    return bool(suspicious and f.get("requests", 0) >= p["min_requests"])


def _path_flood(p: dict[str, Any], f: dict[str, Any]) -> bool:
    requests = f.get("requests", 0)
    baseline = max(f.get("baseline", 0.0), p["initial_baseline"])
    per_source = requests / max(f.get("sources", 1), 1)
    return bool(requests >= p["min_requests"] and requests >= p["factor"] * baseline
                and per_source >= p["min_requests_per_source"])


def _source_flood(p: dict[str, Any], f: dict[str, Any]) -> bool:
    return bool(f.get("requests", 0) >= p["min_requests"])


def _ssh_brute(p: dict[str, Any], f: dict[str, Any]) -> bool:
    return bool(f.get("failures", 0) >= p["min_failures"])


def _ssh_sweep(p: dict[str, Any], f: dict[str, Any]) -> bool:
    return bool(f.get("invalid_users", 0) >= p["min_invalid_users"])


def _after_guessing(p: dict[str, Any], f: dict[str, Any]) -> bool:
    return bool(f.get("accepted") and f.get("recent_failures", 0) >= p["min_failures"]
                and f.get("seconds_since_failure", 1e9) <= p["lookback"])


DECIDE: dict[str, Callable[[dict[str, Any], dict[str, Any]], bool]] = {
    "web_brute_force": _web_brute, "vuln_probe": _vuln_probe, "webshell_use": _webshell, "path_flood": _path_flood,
    "source_flood": _source_flood, "ssh_brute_force": _ssh_brute, "ssh_user_sweep": _ssh_sweep,
    "login_after_guessing": _after_guessing}


class LogRule(DetectorRule):
    """A loaded logs detector rule (see govwatch.detector_rules)."""

    DECIDE = DECIDE


def _check_param(kind: str, name: str, want: Any, value: Any) -> None:
    if isinstance(want, list):
        if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"params.{name}: must be a list of strings or numbers")
    elif isinstance(want, dict):
        if not isinstance(value, dict) or not all(isinstance(v, list) and all(isinstance(s, str) and s for s in v)
                                                  for v in value.values()):
            raise ValueError(f"params.{name}: must map a category to a list of non-empty strings")
    elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"params.{name}: must be a non-negative number (got {value!r})")


def merge_params(kind: str, raw: Any) -> dict[str, Any]:
    """The detector's defaults overridden by a rule's `params` (validated)."""
    defaults = PARAMS[kind]
    if raw is not None and not isinstance(raw, dict):
        raise ValueError("params must be a mapping of name: value")
    merged = dict(defaults)
    for name, value in (raw or {}).items():
        if name not in defaults:
            raise ValueError(f"params.{name}: unknown parameter for {kind} (known: {', '.join(sorted(defaults))})")
        _check_param(kind, name, defaults[name], value)
        merged[name] = value
    return merged


def _check_body(raw: dict[str, Any]) -> None:
    kind = raw.get("detector")
    if kind not in KINDS:
        raise ValueError(f"detector: must be one of {', '.join(KINDS)} (got {kind!r})")
    merge_params(kind, raw.get("params"))
    check_allow_and_tests(raw)


def load(directory: str | None = None) -> dict[str, LogRule]:
    """Load rules/logs (or `directory`): kind -> rule; a kind with two enabled rules is refused."""
    return load_detectors("logs", directory, _check_body, lambda kind, rule, allow: LogRule(
        kind, merge_params(kind, rule.raw.get("params")), rule, allow))
