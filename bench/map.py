"""The rate of one `app.map` over a generator, and the process's peak memory.

    .venv/bin/python bench/map.py sqlite 1000000
    .venv/bin/python bench/map.py postgres 1000000   # CONVEYOR_BENCH_POSTGRES_URL, else local

SQLite: a fresh file in a temporary folder. PostgreSQL: a temporary database, dropped
afterwards. Items are `(i,)` for a task `noop` that this process does not import.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
import uuid

from conveyor import Conveyor


def run(url: str, count: int, chunk_size: int) -> None:
    app = Conveyor(url)
    app.migrate()
    started = time.perf_counter()
    batch = app.map("noop", ((i,) for i in range(count)), chunk_size=chunk_size)
    elapsed = time.perf_counter() - started
    app.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{url.split(':', maxsplit=1)[0]}: {len(batch):,} tasks in {elapsed:.1f}s = "
        f"{len(batch) / elapsed:,.0f} tasks/s (chunk {chunk_size}), peak RSS {peak:.0f} MB"
    )


def main() -> None:
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    chunk_size = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{folder}/map.db", count, chunk_size)
        return
    import psycopg

    admin = os.environ.get(
        "CONVEYOR_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"
    )
    name = f"conveyor_map_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        run(admin.rsplit("/", 1)[0] + f"/{name}", count, chunk_size)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
