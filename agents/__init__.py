"""govwatch agents: watchers, durable spool and sender that run on ministry web servers."""
