"""acme_server: the ACME server, REST API, CLI, inventory and storage around ca_core."""
