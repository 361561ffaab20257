"""nginx templates for investor access (site config and the foreground master config)."""
