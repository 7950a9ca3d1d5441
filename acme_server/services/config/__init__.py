"""Configuration: CAs, policies, profiles and the cached catalog of them all."""
