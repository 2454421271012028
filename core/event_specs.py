"""The declarations of every event kind the agents send (see `govwatch.event_kinds` for the mechanism).

Bounds are generous for what the agents produce (e.g. a FIM diff is cut at 16 KiB by default; longer than
64 Ki characters the collector cuts it rather than refuse the event: an incident's evidence is rewritten at each
append) and tight for what becomes a metric label (site names, change and anomaly kinds: closed sets).
"""

from __future__ import annotations

from govwatch.event_kinds import F, declare

SITE = r"[A-Za-z0-9_.-]{1,64}"   # a site name as agent.yml allows it (it becomes a metric label)
PROBLEM = r"[a-z][a-z0-9_]{0,63}"
PATH = 4096
COUNT = {"minimum": 0, "maximum": 2**53}
TIME = {"minimum": 0, "maximum": 2**33}

FIM_CHANGES = ("created", "modified", "deleted", "attributes")
TRAFFIC_KINDS = ("port_scan", "syn_flood", "udp_flood", "icmp_flood", "reflection", "brute_force", "slow_http",
                 "http_flood", "volume_spike", "outbound_anomaly", "tcp_flood")

FILE_STATE = F("map", "file metadata", nullable=True, fields={
    "sha256": F("str", "content hash (hex); null for folders, links or unread files", nullable=True, max_len=64,
                pattern="[0-9a-f]{64}"),
    "size": F("int", "bytes", **COUNT),
    "mode": F("str", "permission bits, octal", max_len=8, pattern="[0-7]{1,7}"),
    "uid": F("int", "owner", **COUNT), "gid": F("int", "group", **COUNT),
    "inode": F("int", "inode number", **COUNT),
    "mtime": F("number", "modification time (unix s)", minimum=-2**33, maximum=2**33),
    "ctime": F("number", "status change time (unix s)", minimum=-2**33, maximum=2**33),
    "type": F("enum", "what it is", choices=("file", "dir", "symlink", "fifo", "socket", "char", "block", "other")),
    "target": F("str", "symlink target", nullable=True, max_len=PATH),
}, extra=True, max_bytes=2048)

declare("heartbeat", "The agent is alive; carries its version, watchers, spool backlog and watcher stats", {
    "version": F("str", "agent version", max_len=40),
    "ministry": F("str", "ministry the server belongs to", max_len=100),
    "hostname": F("str", "server host name", max_len=200),
    "watchers": F("list", "watchers running", max_len=20, items=F("str", "watcher name", max_len=40)),
    "uptime": F("number", "seconds since the agent started", **TIME),
    "spool_backlog": F("int", "events waiting in the spool", **COUNT),
    "spool_dropped": F("int", "events dropped because the spool was full (ever)", **COUNT),
    "spool_dead": F("int", "events dead-lettered by the spool", **COUNT),
    "sender_failures": F("int", "failed sends since start", **COUNT),
    "collector": F("str", "the collector URL it sends to now (the first of collector.url unless failed over)",
                   max_len=PATH),
    "collector_switches": F("int", "collector failovers since start", **COUNT),
    "config_file": F("str", "the agent.yml it runs with (printed commands use it)", max_len=PATH),
    "stats": F("map", "per-watcher statistics", fields={
        "fim": F("map", "file integrity watcher", fields={
            "watched_files": F("int", "files under watch", **COUNT)}, extra=True),
        "traffic": F("map", "traffic watcher", fields={
            "packets": F("number", "packets seen", **COUNT),
            "kernel_drops": F("number", "packets the kernel dropped", **COUNT)}, extra=True),
    }, extra=True, max_bytes=8192),
}, extra=True)

declare("fim", "A file changed under a watched tree", {
    "path": F("str", "the file", required=True, max_len=PATH),
    "change": F("enum", "what happened", required=True, choices=FIM_CHANGES),
    "root": F("str", "the watched tree it is under", max_len=PATH),
    "before": FILE_STATE, "after": FILE_STATE,
    "old_path": F("str", "previous name (a rename)", nullable=True, max_len=PATH),
    "rules": F("list", "FIM rule ids that matched", max_len=100, items=F("str", "rule id", max_len=100)),
    "diff": F("str", "bounded unified diff of a web file", nullable=True, max_len=64 * 1024, truncate=True),
    "known_good": F("bool", "a known-good copy is kept (restore possible)"),
    "webshell_markers": F("list", "web-shell markers found in the content", max_len=100,
                          items=F("str", "marker", max_len=200)),
}, extra=True)

declare("fim_status", "Integrity watcher trouble: baseline tampered, inotify overflow, unreadable files", {
    "problem": F("str", "what went wrong (overflow, watch_limit, rescan, unreadable, baseline_tampered, ...)",
                 required=True, max_len=64, pattern=PROBLEM),
    "detail": F("str", "explanation", max_len=4000, truncate=True),
    "path": F("str", "file or folder concerned", nullable=True, max_len=PATH),
}, extra=True)

declare("defacement", "A watched page changed state (defaced or clean again)", {
    "site": F("str", "site name (as in agent.yml)", required=True, max_len=64, pattern=SITE),
    "url": F("str", "the page", nullable=True, max_len=2000),
    "state": F("enum", "new state", required=True, choices=("defaced", "clean")),
    "view": F("str", "how the page was fetched (browser, crawler, render, ...)", max_len=32, pattern=PROBLEM),
    "score": F("number", "how far from the known page (0 = same)", nullable=True, minimum=0, maximum=1e6),
    "reasons": F("list", "why", max_len=50, items=F("str", "reason", max_len=1000)),
    "new_domains": F("list", "domains the page newly loads from", max_len=200,
                     items=F("str", "domain", max_len=253)),
    "diff": F("str", "bounded text diff", nullable=True, max_len=64 * 1024, truncate=True),
    "title": F("str", "page title", nullable=True, max_len=1000),
}, extra=True)

declare("traffic", "A traffic anomaly started or ended", {
    "kind": F("enum", "anomaly kind", required=True, choices=TRAFFIC_KINDS),
    "state": F("enum", "start or end", required=True, choices=("start", "end")),
    "start": F("number", "first packet (unix s)", **TIME),
    "end": F("number", "last packet so far (unix s)", **TIME),
    "src": F("str", "source address or summary", nullable=True, max_len=200),
    "dst": F("str", "destination address or summary", nullable=True, max_len=200),
    "evidence": F("map", "detector evidence (counts, ports, samples)", extra=True, max_bytes=32 * 1024),
}, extra=True)

declare("agent", "Agent-level notices: spool overflow, watcher failures, capability missing", {
    "problem": F("str", "what (watcher_failed, capture_unavailable, spool_full, ...)", required=True, max_len=64,
                 pattern=PROBLEM),
    "watcher": F("str", "watcher concerned", nullable=True, max_len=40),
    "detail": F("str", "explanation", max_len=4000, truncate=True),
}, extra=True)

LOGS_KINDS = ("web_brute_force", "vuln_probe", "webshell_use", "path_flood", "source_flood", "ssh_brute_force",
              "ssh_user_sweep", "login_after_guessing")
LOG_SAMPLE = F("map", "one log line behind the finding", fields={
    "ts": F("number", "log time (unix s)", **TIME),
    "src": F("str", "client address as logged", max_len=64),
    "method": F("str", "HTTP method (web) or sshd auth method", max_len=32),
    "target": F("str", "request target, cut", max_len=200, truncate=True),
    "status": F("int", "HTTP status", minimum=0, maximum=999),
    "ua": F("str", "user agent, cut", max_len=120, truncate=True),
    "outcome": F("enum", "sshd outcome", choices=("failed", "invalid_user", "accepted")),
    "user": F("str", "user name tried", max_len=64, truncate=True),
}, extra=True, max_bytes=2048)

declare("logs", "A finding in web-server access logs or sshd auth logs opened, grew or ended", {
    "kind": F("enum", "finding kind (one per rule in rules/logs)", required=True, choices=LOGS_KINDS),
    "state": F("enum", "start, update (new evidence) or end", required=True, choices=("start", "update", "end")),
    "start": F("number", "first log line (unix s, log time)", **TIME),
    "end": F("number", "last log line so far (unix s, log time)", **TIME),
    "src": F("str", "client address as logged, or 'many' for distributed guessing", nullable=True, max_len=64),
    "evidence": F("map", "rule, title, hits and a bounded sample of the lines", fields={
        "rule": F("str", "rule id", max_len=64),
        "title": F("str", "rule title", max_len=200, truncate=True),
        "hits": F("int", "matching lines", **COUNT),
        "path": F("str", "request path concerned", nullable=True, max_len=200, truncate=True),
        "sample": F("list", "at most 10 of the lines", max_len=10, items=LOG_SAMPLE),
    }, extra=True, max_bytes=32 * 1024),
}, extra=True)
