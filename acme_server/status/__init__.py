"""Certificate status endpoints (CRLs now; OCSP and renewalInfo later): unauthenticated, read-mostly."""
