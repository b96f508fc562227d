"""HTTP enqueue through a real `conveyor server`, for `run.py --only http` (Conveyor only).

The server, the load generator and the request bodies are bench/http_enqueue.py's; this
module adds the client's ceiling (the same load against a stub that does no work), a
check that the store holds every task the server accepted, and the table.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from bench import http_enqueue as he
from bench import throughput as tp
from rich.table import Table

BACKENDS = ("postgres", "sqlite")
PROCESSES = tuple(sorted({1, os.cpu_count() or 1}))
"""`conveyor server --workers`: one process, and one per core of this machine."""
CONNECTIONS = 32
CLIENTS = 2
TARGETS = {"postgres": (2_000, 20_000)}
"""Tasks/s the issue asks of the server on PostgreSQL: single requests, batches of 100."""


def _figures(load: he.Load) -> dict[str, Any]:
    return {
        "tasks_per_s": round(load.tasks_per_s, 1),
        "requests_per_s": round(load.requests_per_s, 1),
        "p50_ms": _round(load.latency_ms(50)),
        "p99_ms": _round(load.latency_ms(99)),
        "server_cpu": round(load.server_cpu_share, 2),
        "errors": load.errors,
        "first_error": load.first_error,
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def ceiling(seconds: float) -> dict[str, Any]:
    with he.stub_server() as stub:
        single = he.load(stub, "stub", seconds, CONNECTIONS, 1, CLIENTS)
        batched = he.load(stub, "stub", seconds, CONNECTIONS, he.BATCH, CLIENTS)
    return {"single": _figures(single), "batch": _figures(batched)}


def row_name(backend: str, processes: int) -> str:
    return backend if processes == 1 else f"{backend}, {processes} processes"


def one_backend(
    backend: str, seconds: float, postgres_url: str, processes: int = 1
) -> dict[str, Any]:
    stores = tp.sqlite_backend() if backend == "sqlite" else tp.postgres_backend(postgres_url)
    with stores as (url, probe_factory), he.server(url, processes) as target:
        single = he.load(target, "http", seconds, CONNECTIONS, 1, CLIENTS)
        batched = he.load(target, "http-batch", seconds, CONNECTIONS, he.BATCH, CLIENTS)
        probe = probe_factory()
        try:
            # No worker runs, so every accepted task is still queued.
            stored = probe.remaining("http") + probe.remaining("http-batch")
        finally:
            probe.close()
    accepted = single.accepted_all + batched.accepted_all * he.BATCH
    return {
        "single": _figures(single),
        "batch": _figures(batched),
        "accepted": accepted,
        "stored": stored,
    }


def measure(quick: bool, postgres_url: str, log: Callable[[str], None]) -> dict[str, Any]:
    """Per backend (and the client's ceiling): single and batch figures, or an error."""
    seconds = 3.0 if quick else 10.0
    out: dict[str, Any] = {
        "seconds": seconds,
        "connections": CONNECTIONS,
        "client_processes": CLIENTS,
    }
    log(f"[bold]http[/bold] client ceiling: stub server, {seconds:.0f} s per figure")
    out["client ceiling"] = ceiling(seconds)
    for backend in BACKENDS:
        for processes in PROCESSES:
            name = row_name(backend, processes)
            log(f"[bold]http[/bold] conveyor server on {name}, {seconds:.0f} s per figure")
            try:
                out[name] = one_backend(backend, seconds, postgres_url, processes)
            except Exception as exc:
                out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _cell(f: dict[str, Any]) -> str:
    text = f"{f['tasks_per_s']:,.0f} ({f['p50_ms'] or 0:.1f} / {f['p99_ms'] or 0:.1f})"
    if f["errors"]:
        text += f" [red]{f['errors']} errors[/red]"
    return text


def table(result: dict[str, Any]) -> Table:
    out = Table(
        title=(
            f"HTTP enqueue through `conveyor server`: {result['connections']} keep-alive "
            f"connections from {result['client_processes']} client processes, "
            f"{result['seconds']:.0f} s per figure"
        ),
        caption=(
            "tasks/s (request p50 / p99 ms). Server CPU: the server's processes' CPU time "
            "over wall time (1.00 = one core). Client ceiling: the same client against a "
            f"stub that answers at once. The client and PostgreSQL share the machine's "
            f"{os.cpu_count()} cores with the server."
        ),
    )
    for col in ("server", "single: tasks/s", f"batch of {he.BATCH}: tasks/s"):
        out.add_column(col, justify="left" if col == "server" else "right")
    out.add_column("server CPU single / batch", justify="right")
    out.add_column("target single / batch", justify="right")
    out.add_column("stored / accepted", justify="right")
    names = [row_name(b, p) for b in BACKENDS for p in PROCESSES]
    for name in ("client ceiling", *names):
        row = result.get(name)
        if row is None:
            continue
        if "error" in row:
            out.add_row(name, "[red]failed[/red]", "—", "—", "—", "—")
            continue
        target = TARGETS.get(name.split(",")[0])
        out.add_row(
            name,
            _cell(row["single"]),
            _cell(row["batch"]),
            "—"
            if name == "client ceiling"
            else f"{row['single']['server_cpu']:.2f} / {row['batch']['server_cpu']:.2f}",
            f"{target[0]:,} / {target[1]:,}" if target else "—",
            f"{row['stored']:,} / {row['accepted']:,}" if "stored" in row else "—",
        )
    return out


def errors(result: dict[str, Any]) -> list[str]:
    return [
        f"http {k}: {v['error']}" for k, v in result.items() if isinstance(v, dict) and "error" in v
    ]
