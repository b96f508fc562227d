"""Fixtures for tests that run the sink app, in-process or as worker subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor import Conveyor
from tests.apps.sink import SinkFile, build


@pytest.fixture
def sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SinkFile]:
    """The file every sink task records its runs in; its gates open at teardown."""
    found = SinkFile(tmp_path)
    monkeypatch.setenv("CONVEYOR_SINK", str(found.path))
    yield found
    found.open_all()


@pytest.fixture
def app(store_url: str) -> Iterator[Conveyor]:
    """The sink app on this test's store."""
    built = build(store_url)
    yield built
    built.close()
