"""ACME use-cases (RFC 8555): accounts, orders, authorizations, challenges, nonces, external account
binding keys and revocation."""
