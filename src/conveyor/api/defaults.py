"""Defaults of the HTTP service that its callers name without importing FastAPI."""

DEFAULT_BODY_LIMIT = 256 * 1024
"""Largest request body, in bytes."""
