"""ACME conformance: real clients against Pebble (the reference) and our server; docs/conformance.md."""
