"""Observability shared by every layer: Prometheus metrics (metrics.py) and logging with request ids
(logs.py). A leaf library: it imports nothing else from acme_server (docs/operations.md)."""
