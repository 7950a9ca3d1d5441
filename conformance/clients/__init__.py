"""Drivers for the clients the scenarios run: certbot, lego, cert-manager (Go), acme (Python)."""
