"""Revocation status for relying parties: CRLs (built, stored and refreshed) and the OCSP responder."""
