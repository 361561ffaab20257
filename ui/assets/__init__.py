"""Static assets of the dashboard (stylesheet)."""
