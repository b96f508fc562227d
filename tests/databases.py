"""PostgreSQL databases for tests: one migrated template per schema, one clone per test.

Cloning a template (`CREATE DATABASE ... TEMPLATE`) is much cheaper than migrating, so
every test gets a fresh database of its own; dropping it WITH (FORCE) also ends whatever
a test left connected, so no stray process can write into the next test's database.
(A drop waits for a checkpoint: about 0.1 s on an idle server, more on a busy one.)

The template's name carries a hash of the migration files, so a changed schema gets a
new template, and test sessions that run side by side never drop a template another
session is cloning. A template is built under a temporary name and renamed when
complete, so nobody clones a half-migrated one.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors, sql

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TEMPLATE_PREFIX = "conveyor_test_template"


def admin_url() -> str:
    return os.environ.get("CONVEYOR_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


def url_for(admin: str, database: str) -> str:
    """The admin URL with its database replaced.

    >>> url_for("postgresql://u@h:5432/postgres", "db1")
    'postgresql://u@h:5432/db1'
    """
    return urlunsplit(urlsplit(admin)._replace(path=f"/{database}"))


def unavailable_reason(admin: str) -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    try:
        import conveyor.store.postgres.store  # noqa: F401
    except ImportError as exc:
        return f"the PostgreSQL backend cannot be imported: {exc}"
    try:
        with psycopg.connect(admin, connect_timeout=3):
            pass
    except psycopg.Error as exc:
        return f"PostgreSQL at {admin} is unreachable: {' '.join(str(exc).split())}"
    return None


def _execute(admin: str, statement: sql.Composable) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(statement)


def create_database(admin: str, name: str, template: str | None = None) -> str:
    """Create `name` (empty, or a clone of `template`) and return its URL."""
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    _execute(admin, statement)
    return url_for(admin, name)


def drop_database(admin: str, name: str) -> None:
    _execute(admin, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def reset_database(admin: str, name: str) -> None:
    """Empty every Conveyor table of `name`, keeping its schema.

    Connections left by an earlier test (a killed worker's, a leaked pool) are ended first,
    so nothing from that test can write into this one.
    """
    _disconnect_all(admin, name)
    with psycopg.connect(url_for(admin, name), autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename LIKE 'conveyor%%' AND tablename <> 'conveyor_migrations'"
            )
        ]
        # Only the tables with rows: TRUNCATE costs about 3 ms a table even when empty,
        # and most tests write two or three of a dozen.
        probes = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {} FROM (SELECT FROM {} LIMIT 1) AS one").format(
                sql.Literal(table), sql.Identifier(table)
            )
            for table in tables
        )
        used = [row[0] for row in conn.execute(probes)] if tables else []
        if used:
            names = sql.SQL(", ").join(sql.Identifier(t) for t in used)
            conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(names))


def unique_name(prefix: str = "conveyor_test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _schema_hash() -> str:
    folder = resources.files("conveyor.store.postgres").joinpath("migrations")
    digest = hashlib.sha256()
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return digest.hexdigest()[:12]


def _exists(admin: str, name: str) -> bool:
    with psycopg.connect(admin) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def _disconnect_all(admin: str, name: str) -> None:
    # A database with open connections cannot be renamed or cloned.
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )


def migrated_template(admin: str) -> str:
    """The name of a template database migrated to the current schema; built if missing."""
    from conveyor.store.postgres.store import PostgresStore

    name = f"{TEMPLATE_PREFIX}_{_schema_hash()}"
    if _exists(admin, name):
        return name
    building = unique_name(f"{TEMPLATE_PREFIX}_building")
    store = PostgresStore(create_database(admin, building))
    try:
        store.migrate()
    finally:
        store.close()
    try:
        _disconnect_all(admin, building)
        _execute(
            admin,
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(building), sql.Identifier(name)
            ),
        )
    except errors.DuplicateDatabase:
        pass  # another test session built the same template first; use theirs
    finally:
        drop_database(admin, building)
    return name
