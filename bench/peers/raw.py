"""The raw-driver limits: what one connection of psycopg 3 or sqlite3 does with no queue.

Every figure of a queue on the same store has its ceiling here. The table is a plain
`tasks` table (id, queue, status, payload as JSON text); a "claim" marks rows running
and an "ack" marks them done, as a queue would, with no leases, retries or notifications.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.peers.common import Result, Settings, data, fresh_database

PG_SCHEMA = """
CREATE TABLE tasks (
    id bigserial PRIMARY KEY,
    queue text NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    payload jsonb NOT NULL
);
CREATE INDEX tasks_claim ON tasks (queue, id) WHERE status = 'queued';
"""
SQLITE_SCHEMA = """
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    payload TEXT NOT NULL
);
CREATE INDEX tasks_claim ON tasks (queue, id) WHERE status = 'queued';
"""


def payloads(n: int) -> list[str]:
    return [json.dumps(data(i)) for i in range(n)]


def timed(n: int, fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


# -- PostgreSQL ---------------------------------------------------------------------------


def pg_drain(conn: Any, queue: str, k: int) -> None:
    """Claim k (one transaction), acknowledge them in one statement (another), until empty."""
    while True:
        with conn.transaction():
            ids = [
                row[0]
                for row in conn.execute(
                    "UPDATE tasks SET status = 'running' WHERE id IN ("
                    " SELECT id FROM tasks WHERE queue = %s AND status = 'queued'"
                    " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id",
                    (queue, k),
                )
            ]
        if not ids:
            return
        with conn.transaction():
            conn.execute("UPDATE tasks SET status = 'done' WHERE id = ANY(%s)", (ids,))


def postgres(s: Settings) -> Result:
    import psycopg

    r = Result("raw psycopg", "postgres", f"psycopg {psycopg.__version__}")
    with fresh_database(s.postgres_url, "bench_raw") as url, psycopg.connect(url) as conn:
        conn.autocommit = True
        conn.execute(PG_SCHEMA)
        single = payloads(s.single)
        bulk = payloads(s.tasks)

        def one_by_one() -> None:
            for p in single:
                conn.execute("INSERT INTO tasks (queue, payload) VALUES ('one', %s)", (p,))

        def many(queue: str) -> Callable[[], None]:
            def go() -> None:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO tasks (queue, payload) VALUES (%s, %s)",
                        [(queue, p) for p in bulk],
                    )

            return go

        def copy(queue: str) -> Callable[[], None]:
            def go() -> None:
                with (
                    conn.transaction(),
                    conn.cursor() as cur,
                    cur.copy("COPY tasks (queue, payload) FROM STDIN") as cp,
                ):
                    for p in bulk:
                        cp.write_row((queue, p))

            return go

        r.enqueue_one_per_s = timed(s.single, one_by_one)
        r.enqueue_bulk_per_s = timed(s.tasks, many("c1"))
        r.details["copy_per_s"] = timed(s.tasks, copy("c100"))
        r.details["claim1_ack_per_s"] = timed(s.tasks, lambda: pg_drain(conn, "c1", 1))
        r.processed_per_s_1proc = timed(s.tasks, lambda: pg_drain(conn, "c100", 100))
        r.notes.append("bulk = executemany; processed = claim 100 + ack, one connection")
    return r


# -- SQLite --------------------------------------------------------------------------------


def sqlite(s: Settings, synchronous: str) -> Result:
    r = Result(f"raw sqlite3 ({synchronous})", f"sqlite {synchronous}", sqlite3.sqlite_version)
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as folder:
        conn = sqlite3.connect(Path(folder) / "raw.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.executescript(SQLITE_SCHEMA)
        single = payloads(s.single)
        bulk = payloads(s.tasks)

        def one_by_one() -> None:
            for p in single:
                conn.execute("INSERT INTO tasks (queue, payload) VALUES ('one', ?)", (p,))

        def many(queue: str) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO tasks (queue, payload) VALUES (?, ?)", [(queue, p) for p in bulk]
            )
            conn.execute("COMMIT")

        def claim(queue: str, k: int) -> None:
            while True:
                conn.execute("BEGIN IMMEDIATE")
                ids = [
                    row[0]
                    for row in conn.execute(
                        "UPDATE tasks SET status = 'running' WHERE id IN ("
                        " SELECT id FROM tasks WHERE queue = ? AND status = 'queued'"
                        " ORDER BY id LIMIT ?) RETURNING id",
                        (queue, k),
                    )
                ]
                conn.execute("COMMIT")
                if not ids:
                    return
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "UPDATE tasks SET status = 'done' WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(ids),),
                )
                conn.execute("COMMIT")

        r.enqueue_one_per_s = timed(s.single, one_by_one)
        r.enqueue_bulk_per_s = timed(s.tasks, lambda: many("c1"))
        many("c100")
        r.details["claim1_ack_per_s"] = timed(s.tasks, lambda: claim("c1", 1))
        r.processed_per_s_1proc = timed(s.tasks, lambda: claim("c100", 100))
        r.notes.append("bulk = executemany; processed = claim 100 + ack, one connection")
        conn.close()
    return r


def run(s: Settings, log: Callable[[str], None]) -> list[Result]:
    out = []
    for name, fn in (
        ("raw psycopg", lambda: postgres(s)),
        ("raw sqlite3 (normal)", lambda: sqlite(s, "normal")),
        ("raw sqlite3 (full)", lambda: sqlite(s, "full")),
    ):
        log(f"{name}: inserts, claims")
        try:
            out.append(fn())
        except Exception as exc:
            store = "postgres" if "psycopg" in name else name.split("(")[1].rstrip(")")
            out.append(Result(name, store, error=f"{type(exc).__name__}: {exc}"))
    return out
