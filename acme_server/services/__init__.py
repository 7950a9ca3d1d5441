"""The RA: use-cases over storage and ca_core. Never sees an HTTP request."""
