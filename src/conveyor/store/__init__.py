"""The store: the only place that knows SQL. `open_store(url)` picks the backend.

Backends are imported lazily, so SQLite users never need psycopg installed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from conveyor.errors import ConfigurationError
from conveyor.store.base import Store

SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgres": "postgres",
    "postgresql+psycopg": "postgres",
}


def backend_of(url: str) -> str:
    """The backend a URL names, or a ConfigurationError that says what is wrong.

    >>> backend_of("sqlite:///conveyor.db")
    'sqlite'
    """
    if not url or "://" not in url:
        raise ConfigurationError(
            f"store URL {url!r} has no scheme; use sqlite:///path/to/file.db "
            "or postgresql://user@host/dbname"
        )
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"store URL {url!r} has an unknown scheme {scheme!r}; "
            f"expected one of {', '.join(sorted(SCHEMES))}"
        )
    return SCHEMES[scheme]


def check_url(url: str) -> str:
    """The backend a URL names, once the URL is also well formed for that backend.

    >>> check_url("sqlite://host/q.db")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    conveyor.errors.ConfigurationError: SQLite URL 'sqlite://host/q.db' has a host part ...
    """
    backend = backend_of(url)
    if backend == "sqlite":
        from conveyor.store.sqlite.store import parse_sqlite_url

        parse_sqlite_url(url)
    return backend


def open_store(url: str, *, migrate: bool | None = None) -> Store:
    """Open the store a URL names. SQLite files are migrated on first use by default."""
    if backend_of(url) == "sqlite":
        from conveyor.store.sqlite.store import SQLiteStore

        store: Store = SQLiteStore(url)
        if migrate is None or migrate:
            store.migrate()
        return store
    try:
        from conveyor.store.postgres.store import PostgresStore
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            f"PostgreSQL needs psycopg: pip install 'conveyor-queue[postgres]' ({exc})"
        ) from None
    store = PostgresStore(url)
    if migrate:
        store.migrate()
    return store


__all__ = ["Store", "backend_of", "check_url", "open_store"]
