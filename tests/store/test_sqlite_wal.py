"""SQLite's write-ahead log gives its disk space back once a checkpoint has emptied it."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from conveyor.store import open_store
from conveyor.store.sqlite import store as sqlite_store
from tests.factories import new_task

LIMIT = 256 * 1024


def test_the_wal_file_shrinks_to_its_limit_after_a_burst(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "WAL_SIZE_LIMIT", LIMIT)
    path = tmp_path / "conveyor.db"
    store = open_store(f"sqlite:///{path}", migrate=True)
    wal = Path(f"{path}-wal")
    try:
        for _ in range(10):
            store.enqueue([new_task(args=["x" * 200]) for _ in range(500)])
        assert wal.stat().st_size > 4 * LIMIT  # the burst grew the log

        with contextlib.closing(sqlite3.connect(path)) as other:
            busy, _, _ = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0
        store.enqueue([new_task()])  # the first write after the checkpoint restarts the log

        assert wal.stat().st_size <= LIMIT
    finally:
        store.close()
