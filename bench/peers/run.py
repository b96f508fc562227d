"""The peer comparison: Conveyor, other queues and raw-driver limits, in one table.

    make bench-peers                                   # full: 20,000 tasks, median of 3
    .venv/bin/python bench/peers/run.py --quick        # smoke run: small N, one run
    .venv/bin/python bench/peers/run.py --only conveyor-postgres,pgqueuer,raw --json
    .venv/bin/python bench/peers/run.py --quick --only http,rss,storage

After the peers' table come Conveyor's own: the deep-queue claim cost (conveyor_system.py's
`claim_cost`), HTTP enqueue through `conveyor server` (http_rate.py), one worker's RSS
over a million tasks (worker_rss.py) and the store's size under a steady load with
pruning (storage.py).

Runs in Conveyor's virtualenv. The peers are installed from PyPI into their own
virtualenvs (`bench/.peers-venv`, and `bench/.peers-venv-arq` because arq pins redis<6
while Celery needs redis>=6.4), built here on first use, and measured in subprocesses
from there (bench/peers/child.py): none is ever a dependency of Conveyor. See
bench/README.md for how to read the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `bench.*` imports as in the workers

from bench.peers import (  # noqa: E402
    conveyor_system,
    http_rate,
    raw,
    storage,
    storage_report,
    worker_rss,
)
from bench.peers.common import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    Result,
    Settings,
)
from bench.throughput import compile_sources  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

COMMON = ["psycopg[binary]>=3.2,<4", "psycopg-pool>=3.2,<4", "redis"]
VENVS: dict[str, list[str]] = {
    "bench/.peers-venv": [
        "pgqueuer~=1.6.0",
        "procrastinate~=3.10.0",
        "saq[postgres]~=0.26.0",
        "huey~=3.5.0",
        "dramatiq[redis]~=2.2.0",
        "celery[redis]~=5.7.0",
        "rq~=3.0.0",
        *COMMON,
    ],
    "bench/.peers-venv-arq": ["arq~=0.28.0", "psycopg[binary]>=3.2,<4"],
}
PEERS: dict[str, str] = {
    "pgqueuer": "bench/.peers-venv",
    "procrastinate": "bench/.peers-venv",
    "saq": "bench/.peers-venv",
    "huey-sqlite": "bench/.peers-venv",
    "huey-redis": "bench/.peers-venv",
    "dramatiq": "bench/.peers-venv",
    "celery": "bench/.peers-venv",
    "arq": "bench/.peers-venv-arq",
    "rq": "bench/.peers-venv",
}
SKIPPED: dict[str, tuple[str, str]] = {
    "oban": (
        "postgres",
        "oban 0.7.0 (PyPI `oban`) requires Python >= 3.12; Conveyor and this run use 3.11",
    ),
}
EXTRAS = ("deep", "http", "rss", "storage")
"""Conveyor-only measurements, each with a table of its own."""
SYSTEMS = ["raw", *conveyor_system.SYSTEMS, *PEERS, *SKIPPED, *EXTRAS]
REFERENCE = {
    # store -> (Conveyor row, raw-limit row) that each figure is divided by
    "postgres": ("conveyor-postgres", "raw psycopg"),
    "sqlite normal": ("conveyor-sqlite-normal", "raw sqlite3 (normal)"),
    "sqlite full": ("conveyor-sqlite-full", "raw sqlite3 (full)"),
    "sqlite off": ("conveyor-sqlite-normal", "raw sqlite3 (normal)"),
    # No Conveyor backend speaks Redis: its networked server store is the comparison.
    "redis": ("conveyor-postgres", None),
}
FIGURES = (
    "enqueue_one_per_s",
    "enqueue_bulk_per_s",
    "processed_per_s_1proc",
    "processed_per_s_2procs",
    "pickup_p50_ms",
    "pickup_p99_ms",
)

err = Console(stderr=True, highlight=False)


def log(line: str) -> None:
    err.print(line, highlight=False)


# -- virtualenvs ---------------------------------------------------------------------------


def ensure_venv(folder: str) -> Path:
    """Create (or reuse) a peers' virtualenv; reinstall when its requirements change."""
    path = ROOT / folder
    python = path / "bin" / "python"
    wanted = VENVS[folder]
    stamp = path / ".requirements"
    digest = hashlib.sha256("\n".join(wanted).encode()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    log(f"installing {', '.join(wanted)} into {folder} (PyPI) ...")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *wanted], check=True)
    stamp.write_text(digest)
    return python


# -- running one system --------------------------------------------------------------------


def run_peer(name: str, s: Settings) -> Result:
    try:
        python = ensure_venv(PEERS[name])
    except subprocess.CalledProcessError as exc:
        return Result(name, "?", error=f"could not install: {exc}")
    command = [
        str(python),
        "-m",
        "bench.peers.child",
        name,
        f"--tasks={s.tasks}",
        f"--single={s.single}",
        f"--samples={s.samples}",
        f"--concurrency={s.concurrency}",
        f"--postgres-url={s.postgres_url}",
        f"--redis-url={s.redis_url}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, check=False, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return Result(name, "?", error=f"child exited {done.returncode} without a result")
    return Result(**json.loads(lines[-1]))


def once(name: str, s: Settings) -> list[Result]:
    if name == "raw":
        return raw.run(s, log)
    if name in conveyor_system.SYSTEMS:
        return [conveyor_system.measure(name, s, log)]
    if name in SKIPPED:
        store, why = SKIPPED[name]
        return [Result(name, store, error=f"skipped: {why}")]
    return [run_peer(name, s)]


def median_of(runs: Sequence[Result]) -> Result:
    """Each figure's median over the runs that produced it; errors kept as notes."""
    first = runs[0]
    out = Result(first.system, first.store, first.version, notes=list(first.notes))
    for f in FIGURES:
        values = [getattr(r, f) for r in runs if getattr(r, f) is not None]
        setattr(out, f, statistics.median(values) if values else None)
    errors = [r.error for r in runs if r.error]
    if len(errors) == len(runs):
        out.error = errors[0]
    elif errors:
        out.notes.append(f"{len(errors)} of {len(runs)} runs failed: {errors[0]}")
    out.details = {"runs": [asdict(r) for r in runs]} if len(runs) > 1 else first.details
    for key, value in first.details.items():
        if isinstance(value, float) and len(runs) > 1:
            vals = [r.details[key] for r in runs if isinstance(r.details.get(key), float)]
            out.details[key] = statistics.median(vals)
    return out


def measure(name: str, s: Settings, runs: int) -> list[Result]:
    rounds = []
    for i in range(runs):
        log(f"[bold]{name}[/bold] run {i + 1} of {runs}")
        rounds.append(once(name, s))
        if name in SKIPPED:
            break
    out = [median_of([r[k] for r in rounds]) for k in range(len(rounds[0]))]
    for r in out:
        # A long run's figures so far, in case it is stopped before the table.
        log(
            f"  = {r.system}: one {_rate(r.enqueue_one_per_s)}/s, bulk "
            f"{_rate(r.enqueue_bulk_per_s)}/s, processed {_rate(r.processed_per_s_1proc)} "
            f"({_rate(r.processed_per_s_2procs)})/s, pickup {_ms(r.pickup_p50_ms)}/"
            f"{_ms(r.pickup_p99_ms)} ms{' ' + r.error if r.error else ''}"
        )
    return out


# -- the table -----------------------------------------------------------------------------


def _rate(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}"


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}"


def ratios(r: Result, ref: Result | None, raw_limit: bool) -> str:
    """enqueue one / bulk / processed (2 procs), each over the reference's figure."""
    if ref is None or ref is r or r.error:
        return "—"
    # The raw limit's "processed" is one connection claiming 100 and acking them.
    processed_ref = ref.processed_per_s_1proc if raw_limit else ref.processed_per_s_2procs
    return " / ".join(
        (
            _ratio(r.enqueue_one_per_s, ref.enqueue_one_per_s),
            _ratio(r.enqueue_bulk_per_s, ref.enqueue_bulk_per_s),
            _ratio(r.processed_per_s_2procs or r.processed_per_s_1proc, processed_ref),
        )
    )


def table(results: Sequence[Result], s: Settings, runs: int, info: dict[str, Any]) -> Table:
    by_name = {r.system: r for r in results}
    out = Table(
        title=(
            f"Conveyor and peers: {s.tasks:,} tasks, concurrency {s.concurrency}, "
            f"{'median of ' + str(runs) if runs > 1 else 'one run'}"
        ),
        caption=(
            f"{info['cores']} cores, Python {info['python']}, load average "
            f"{info['load_before']} before, {info['load_after']} after. "
            "Ratios: enqueue one / bulk / processed (2 procs). Raw rows: processed = one "
            "connection, claim 100 + ack."
        ),
    )
    for col, just in (
        ("system", "left"),
        ("store", "left"),
        ("version", "left"),
        ("enqueue one/s", "right"),
        ("enqueue bulk/s", "right"),
        ("processed/s 1 proc (2 procs)", "right"),
        ("pickup p50/p99 ms", "right"),
        ("ratio to Conveyor", "right"),
        ("ratio to raw limit", "right"),
    ):
        out.add_column(col, justify=just, no_wrap=col in ("system", "store", "version"))
    for r in results:
        if r.error:
            # The reason goes under the table, where it is not squeezed into a column.
            word = "skipped" if r.error.startswith("skipped") else "[red]failed[/red]"
            out.add_row(r.system, r.store, r.version, word, *(["—"] * 5))
            continue
        conveyor_ref, raw_ref = REFERENCE.get(r.store, (None, None))
        raw_row = r.system.startswith("raw ")
        processed = _rate(r.processed_per_s_1proc)
        if not raw_row:
            processed += f" ({_rate(r.processed_per_s_2procs)})"
        out.add_row(
            r.system,
            r.store,
            r.version,
            _rate(r.enqueue_one_per_s),
            _rate(r.enqueue_bulk_per_s),
            processed,
            "—" if r.pickup_p50_ms is None else f"{_ms(r.pickup_p50_ms)} / {_ms(r.pickup_p99_ms)}",
            "—" if raw_row else ratios(r, by_name.get(conveyor_ref or ""), raw_limit=False),
            "—" if raw_row else ratios(r, by_name.get(raw_ref or ""), raw_limit=True),
        )
    return out


def raw_table(results: Sequence[Result]) -> Table:
    out = Table(title="Raw-driver limits (one connection, tasks/s)")
    for col in (
        "driver",
        "INSERT, 1 per tx",
        "executemany, 1 tx",
        "COPY",
        "claim 1 + ack",
        "claim 100 + ack",
    ):
        out.add_column(col, justify="left" if col == "driver" else "right")
    for r in results:
        if r.system.startswith("raw ") and not r.error:
            out.add_row(
                r.system,
                _rate(r.enqueue_one_per_s),
                _rate(r.enqueue_bulk_per_s),
                _rate(r.details.get("copy_per_s")),
                _rate(r.details.get("claim1_ack_per_s")),
                _rate(r.processed_per_s_1proc),
            )
    return out


# -- main ----------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small N, one run")
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(SYSTEMS)}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--tasks", type=int, default=None, help="tasks per run (20000)")
    parser.add_argument("--runs", type=int, default=None, help="runs per system (3; 1 quick)")
    parser.add_argument(
        "--rss-tasks", type=int, default=None, help="rss: tasks processed (1000000; 20000 quick)"
    )
    parser.add_argument(
        "--sustained-seconds", type=float, default=None, help="storage: run length (600; 60 quick)"
    )
    parser.add_argument(
        "--sustained-rate", type=float, default=200.0, help="storage: tasks/s enqueued (200)"
    )
    args = parser.parse_args(argv)
    args.only = [n.strip() for n in args.only.split(",") if n.strip()] or SYSTEMS
    unknown = sorted(set(args.only) - set(SYSTEMS))
    if unknown:
        parser.error(f"unknown system(s) {unknown}; choose from {', '.join(SYSTEMS)}")
    if args.sustained_seconds is None:
        args.sustained_seconds = 60.0 if args.quick else 600.0
    if args.sustained_seconds <= 0 or args.sustained_rate <= 0:
        parser.error("--sustained-seconds and --sustained-rate must be positive")
    if args.rss_tasks is not None and args.rss_tasks < 10:
        parser.error("--rss-tasks must be at least 10 (RSS is read at a tenth of it)")
    return args


def extra(name: str, args: argparse.Namespace, s: Settings) -> dict[str, Any]:
    """One Conveyor-only measurement's results, by its `--only` name."""
    if name == "deep":
        return deep_queue(args.quick, s.postgres_url)
    if name == "http":
        return http_rate.measure(args.quick, s.postgres_url, log)
    if name == "rss":
        return worker_rss.measure(args.quick, args.rss_tasks, s, log)
    return storage.measure(args.sustained_seconds, args.sustained_rate, s, log)


JSON_KEYS = {
    "deep": "deep_queue_claim_ms",
    "http": "http_enqueue",
    "rss": "worker_rss",
    "storage": "storage",
}


def extra_tables(name: str, result: dict[str, Any]) -> list[Table]:
    if name == "deep":
        return [deep_table(result)]
    if name == "http":
        return [http_rate.table(result)]
    if name == "rss":
        return [worker_rss.table(result)]
    return storage_report.tables(result)


def extra_errors(name: str, result: dict[str, Any]) -> list[str]:
    if name == "deep":
        return [f"deep {k}: {v['error']}" for k, v in result.items() if "error" in v]
    if name == "http":
        return http_rate.errors(result)
    if name == "rss":
        return worker_rss.errors(result)
    return storage_report.errors(result)


def print_tables(
    results: Sequence[Result],
    extras: dict[str, dict[str, Any]],
    s: Settings,
    runs: int,
    info: dict[str, Any],
) -> None:
    # Wide enough for the nine columns also when piped to a file.
    console = Console(width=max(Console().width, 170))
    if results:
        console.print(table(results, s, runs, info))
    if any(r.system.startswith("raw ") for r in results):
        console.print(raw_table(results))
    for name, result in extras.items():
        for t in extra_tables(name, result):
            console.print(t)
    for r in results:
        if r.error:
            console.print(f"{r.system}: {r.error}", highlight=False)
        for note in r.notes:
            console.print(f"{r.system}: {note}", highlight=False)
    for name, result in extras.items():
        for line in extra_errors(name, result):
            console.print(line, highlight=False)
    console.print(f"{info['seconds']:.0f} s in all", highlight=False)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    compile_sources()
    tasks = args.tasks or (1_000 if args.quick else 20_000)
    runs = args.runs or (1 if args.quick else 3)
    s = Settings(
        tasks=tasks,
        single=max(100, tasks // 10),
        samples=50 if args.quick else 200,
        postgres_url=os.environ.get("CONVEYOR_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        redis_url=os.environ.get("CONVEYOR_BENCH_REDIS_URL", DEFAULT_REDIS_URL),
    )
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_before": round(os.getloadavg()[0], 2),
    }
    started = time.monotonic()
    results: list[Result] = []
    extras: dict[str, dict[str, Any]] = {}
    for name in (n for n in SYSTEMS if n in args.only):
        if name in EXTRAS:
            extras[name] = extra(name, args, s)
        else:
            results.extend(measure(name, s, runs))
    info["load_after"] = round(os.getloadavg()[0], 2)
    info["seconds"] = round(time.monotonic() - started, 1)
    if args.json:
        report = {
            "machine": info,
            "settings": asdict(s),
            "runs": runs,
            "results": [asdict(r) for r in results],
            **{JSON_KEYS[name]: result for name, result in extras.items()},
        }
        print(json.dumps(report, indent=2))
    else:
        print_tables(results, extras, s, runs, info)
    failed = any(r.error and not r.error.startswith("skipped") for r in results)
    return 1 if failed or any(extra_errors(n, r) for n, r in extras.items()) else 0


def deep_queue(quick: bool, postgres_url: str) -> dict[str, Any]:
    """Conveyor's claim cost with a deep backlog vs a shallow one, on each backend."""
    depths = (1_000, 20_000 if quick else 1_000_000)
    out: dict[str, Any] = {}
    for name in ("conveyor-sqlite-normal", "conveyor-postgres"):
        log(f"[bold]deep queue[/bold] {name}: claims at depths {depths}")
        try:
            out[name] = conveyor_system.claim_cost(name, depths, postgres_url)
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def deep_table(deep: dict[str, Any]) -> Table:
    depths = sorted({int(d) for v in deep.values() for d in v if d != "error"})
    out = Table(title="Deep queue: ms per claim of 10 + completion (median of 200), Conveyor")
    out.add_column("system")
    for d in depths:
        out.add_column(f"{d:,} queued", justify="right")
    for name, costs in deep.items():
        if "error" in costs:
            out.add_row(name, f"[red]{costs['error']}[/red]")
        else:
            out.add_row(name, *(f"{costs[str(d)]:.2f}" for d in depths))
    return out


if __name__ == "__main__":
    sys.exit(main())
