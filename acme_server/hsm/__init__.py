"""CA keys in an HSM over PKCS#11: RFC 7512 URIs (uri.py) and the python-pkcs11 binding (pkcs11.py)
that answers ca_core.tokens.TokenSession. Talks to the token only: no storage, services or web."""
