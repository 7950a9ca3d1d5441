"""Who may act: REST API tokens and signed-in UI sessions."""
