"""ca_core: the certificate authority as a pure, synchronous library (keys, CAs, profiles, policies,
issuance, revocation, CRLs, export). No web, no SQL, no asyncio: time, serials and keys are arguments."""
