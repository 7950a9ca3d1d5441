"""Delivery: syncs that push certificates to destinations outside the server."""
