-- The collector's store, in SQLite syntax (pg.py maps it for PostgreSQL). Times are unix seconds (REAL).
-- Schema version: migrations.py (a change to a column of an existing table needs a migration there).
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- One row per enrolled agent; the token is kept only as its SHA-256.
CREATE TABLE IF NOT EXISTS agents (
  name TEXT PRIMARY KEY, ministry TEXT NOT NULL DEFAULT '', token_sha256 TEXT NOT NULL UNIQUE,
  enrolled REAL NOT NULL, revoked REAL, last_seen REAL, version TEXT NOT NULL DEFAULT '',
  hostname TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT '{}'  -- last heartbeat data (JSON)
);

-- Every event ever accepted; (agent, id) makes a retried batch a no-op.
CREATE TABLE IF NOT EXISTS events (
  agent TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL, ts REAL NOT NULL,
  received REAL NOT NULL, summary TEXT NOT NULL, data TEXT NOT NULL, incident INTEGER,
  PRIMARY KEY (agent, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_received ON events (received);
CREATE INDEX IF NOT EXISTS events_kind_ts ON events (kind, ts);

-- Monotonic counters kept in the same transaction as the events they count (survive restarts).
CREATE TABLE IF NOT EXISTS counters (
  name TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (name, labels)
) WITHOUT ROWID;

-- Current defacement state per site and view (source: agent name, or 'collector' for the outside probe).
CREATE TABLE IF NOT EXISTS defacement_state (
  site TEXT NOT NULL, source TEXT NOT NULL, defaced INTEGER NOT NULL, since REAL NOT NULL,
  score REAL NOT NULL DEFAULT 0, reasons TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (site, source)
);

-- Each agent's clock as measured at its last batch (agent minus collector, seconds).
CREATE TABLE IF NOT EXISTS agent_clock (agent TEXT PRIMARY KEY, skew REAL NOT NULL, measured REAL NOT NULL);

-- Active traffic anomalies per agent and kind.
CREATE TABLE IF NOT EXISTS traffic_active (
  agent TEXT NOT NULL, kind TEXT NOT NULL, since REAL NOT NULL, evidence TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (agent, kind)
);

-- Incidents: what security staff triage. key groups related events (e.g. 'defacement:moc-home').
CREATE TABLE IF NOT EXISTS incidents (
  id INTEGER PRIMARY KEY, key TEXT NOT NULL, kind TEXT NOT NULL, site TEXT, agent TEXT,
  severity TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open',   -- open | acknowledged | resolved
  title TEXT NOT NULL, opened REAL NOT NULL, updated REAL NOT NULL, resolved REAL,
  evidence TEXT NOT NULL DEFAULT '{}', acknowledged_by TEXT, resolved_by TEXT
);
CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status, severity);
CREATE INDEX IF NOT EXISTS incidents_key ON incidents (key, status);
CREATE TABLE IF NOT EXISTS incident_comments (
  incident INTEGER NOT NULL, ts REAL NOT NULL, author TEXT NOT NULL, text TEXT NOT NULL
);

-- Site probes from the collector (uptime): one row per probe, kept for reports.
CREATE TABLE IF NOT EXISTS site_probes (
  site TEXT NOT NULL, ts REAL NOT NULL, up INTEGER NOT NULL, status INTEGER, duration REAL,
  error TEXT, ip TEXT, cert_expiry REAL, phases TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS site_probes_site_ts ON site_probes (site, ts);

-- Current state per site (last probe, confirmed up/down since when, consecutive failures, TLS).
CREATE TABLE IF NOT EXISTS site_state (
  site TEXT PRIMARY KEY, up INTEGER NOT NULL, since REAL NOT NULL, last_probe REAL NOT NULL,
  failures INTEGER NOT NULL DEFAULT 0, duration REAL, status INTEGER, error TEXT, ip TEXT,
  cert_expiry REAL, cert_valid INTEGER, cert_error TEXT, https_redirect INTEGER
);

-- Confirmed outages: start is the first failed probe of the run that confirmed it; ended NULL while down.
CREATE TABLE IF NOT EXISTS outages (
  id INTEGER PRIMARY KEY, site TEXT NOT NULL, start REAL NOT NULL, ended REAL, cause TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS outages_site ON outages (site, start);

-- Console users and sessions.
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, created REAL NOT NULL, disabled REAL
);
CREATE TABLE IF NOT EXISTS sessions (
  id_sha256 TEXT PRIMARY KEY, username TEXT NOT NULL, csrf TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL
);

-- Commands for agents (e.g. rebaseline a site), delivered in the answer to their next event batch.
CREATE TABLE IF NOT EXISTS commands (
  id INTEGER PRIMARY KEY, agent TEXT NOT NULL, kind TEXT NOT NULL, arg TEXT NOT NULL, created REAL NOT NULL,
  delivered REAL
);

-- Probing shared among collectors on one store (collector/leases.py, vantage.py). A collector announces
-- itself (name, network label) and holds each site it probes by a lease it renews; an expired lease is free.
CREATE TABLE IF NOT EXISTS probe_collectors (
  name TEXT PRIMARY KEY, vantage TEXT NOT NULL, seen REAL NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS probe_leases (site TEXT PRIMARY KEY, holder TEXT NOT NULL, expires REAL NOT NULL);
-- A lease holder whose probes fail asks a collector in another network to probe the site once.
CREATE TABLE IF NOT EXISTS probe_confirmations (
  id INTEGER PRIMARY KEY, site TEXT NOT NULL, requester TEXT NOT NULL, vantage TEXT NOT NULL,
  requested REAL NOT NULL, deadline REAL NOT NULL, answerer TEXT, answer_vantage TEXT, answered REAL,
  up INTEGER, error TEXT, handled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS probe_confirmations_open ON probe_confirmations (handled, site);
-- The last view of each site from each vantage ('inside' = the agent on the site's own server).
CREATE TABLE IF NOT EXISTS site_vantage (
  site TEXT NOT NULL, vantage TEXT NOT NULL, collector TEXT NOT NULL, up INTEGER NOT NULL, ts REAL NOT NULL,
  error TEXT, PRIMARY KEY (site, vantage)
);
-- Failed console logins per client address (the login rate limit holds across collectors).
CREATE TABLE IF NOT EXISTS login_failures (id INTEGER PRIMARY KEY, client TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS login_failures_client ON login_failures (client, ts);
CREATE INDEX IF NOT EXISTS login_failures_ts ON login_failures (ts);
