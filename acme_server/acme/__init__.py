"""The WFE: RFC 8555 over HTTP (JWS, nonces, problem documents); handlers stay thin."""
