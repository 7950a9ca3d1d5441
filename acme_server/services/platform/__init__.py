"""What the server runs on: the KEK, the audit log, rate limits, readiness, metrics, backups and the dev
set-up."""
