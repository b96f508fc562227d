"""Who is looking at the dashboard: signed session cookies and the scopes they carry."""
