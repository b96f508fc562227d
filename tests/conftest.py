"""The `store` fixture: every store test runs on a real SQLite file and a real PostgreSQL.

PostgreSQL: one database per test session, cloned from a migrated template, and emptied
before each test (see `databases.py`): resetting takes milliseconds where a fresh clone
per test took most of a second. SQLite: a copy of a file migrated once per session
(0.2 ms, against 17 ms to create and migrate one).
When PostgreSQL cannot be used, its tests fail under CI=true and are skipped elsewhere,
with a banner at the end of the run so a skip is never silent.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.store import Store, open_store
from tests import databases

BACKENDS = ["sqlite", "postgres"]
POSTGRES_MISSING = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(admin URL, migrated template), or a failure under CI and a skip elsewhere."""
    admin = databases.admin_url()
    reason = databases.unavailable_reason(admin)
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true requires PostgreSQL, but {reason}", pytrace=False)
        request.config.stash[POSTGRES_MISSING] = reason
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    return admin, databases.migrated_template(admin)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgres":
        request.getfixturevalue("postgres")
    return name


@pytest.fixture
def store_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, migrated store for this test alone."""
    if backend == "sqlite":
        path = tmp_path / "conveyor.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin, database = request.getfixturevalue("postgres_database")
    databases.reset_database(admin, database)
    yield databases.url_for(admin, database)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the current schema, its log checkpointed into it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "conveyor.db"
    open_store(f"sqlite:///{path}").close()  # creates and migrates the file
    assert not Path(f"{path}-wal").exists(), "the template's WAL was not checkpointed"
    return path


@pytest.fixture(scope="session")
def postgres_database(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(admin URL, name) of this session's migrated database, reset before each test."""
    admin, template = request.getfixturevalue("postgres")
    name = databases.unique_name()
    databases.create_database(admin, name, template=template)
    yield admin, name
    databases.drop_database(admin, name)


@pytest.fixture
def empty_store_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a store with no schema at all, for migration tests."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    admin, _ = request.getfixturevalue("postgres")
    name = databases.unique_name()
    yield databases.create_database(admin, name)
    databases.drop_database(admin, name)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    reason = config.stash.get(POSTGRES_MISSING, None)
    if reason is not None:
        terminalreporter.write_sep("!", "POSTGRESQL TESTS WERE SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"{reason}", red=True)
        terminalreporter.write_line(
            "Start PostgreSQL or set CONVEYOR_TEST_POSTGRES_URL; under CI=true these tests fail.",
            red=True,
        )
