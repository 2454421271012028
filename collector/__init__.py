"""govwatch collector: ingest API, store, metrics, probes, console and reports."""
