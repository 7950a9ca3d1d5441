"""Renewal: renew now (now.py), the auto-renewal scheduler (scheduler.py), ACME Renewal Information
(ari.py) and CA rotation (rotation.py)."""
