"""Running under gunicorn: CPU count, log formats, the access log."""
