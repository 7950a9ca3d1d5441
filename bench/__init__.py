"""Benchmarks: each a `python -m bench.NAME` module with its own section in bench/README.md."""
