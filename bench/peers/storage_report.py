"""The tables of bench/peers/storage.py's run: a summary, then samples per backend."""

from __future__ import annotations

from typing import Any

from bench.peers.storage import BOUND, TABLES, total_bytes
from rich.table import Table

ROWS_SHOWN = 13
"""Samples shown per backend (evenly spaced, last included); the JSON has them all."""


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f}"


def _progress(s: dict[str, Any]) -> list[str]:
    """A sample's first cells, the same in both backends' tables: time and task counts."""
    return [
        f"{s['t']:.0f}",
        f"{s['enqueued']:,}",
        f"{s['processed']:,}",
        f"{s['queued']:,}",
        f"{s['finished']:,}",
    ]


def shown(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(samples) <= ROWS_SHOWN:
        return samples
    step = (len(samples) - 1) / (ROWS_SHOWN - 1)
    return [samples[round(i * step)] for i in range(ROWS_SHOWN)]


def summary(result: dict[str, Any]) -> Table:
    plan = result["plan"]
    out = Table(
        title=(
            f"Storage under a steady load: {plan['seconds']:.0f} s at {plan['rate']:.0f} "
            f"tasks/s, retention {plan['retention']:.0f} s, prune every "
            f"{plan['prune_interval']:.0f} s"
        ),
        caption=(
            "MiB of tasks + dependencies tables with their indexes (PostgreSQL), database "
            f"file + WAL (SQLite). Bounded: second half's max within {BOUND:.0%} of the "
            "first half's."
        ),
    )
    out.add_column("system")
    for col in ("first half max MiB", "second half max MiB", "growth", "bounded", "vacuum by"):
        out.add_column(col, justify="right")
    for name, r in result.items():
        if name == "plan":
            continue
        if "error" in r:
            out.add_row(name, "[red]failed[/red]", "—", "—", "—", "—")
            continue
        growth = "—" if r["growth"] is None else f"{r['growth']:+.1%}"
        vacuum_by = r.get("vacuum_by", "—")
        if r.get("harness_vacuums"):
            n = len(r["harness_vacuums"])
            vacuum_by += f", {n} run{'' if n == 1 else 's'}"
        out.add_row(
            name,
            _mib(r["first_half_max"]),
            _mib(r["second_half_max"]),
            growth,
            _bounded(r),
            vacuum_by,
        )
    return out


def _bounded(r: dict[str, Any]) -> str:
    if r["bounded"] is None:
        return f"too short ({r.get('note', 'no samples')})"
    return "yes" if r["bounded"] else "[red]no[/red]"


def postgres_samples(samples: list[dict[str, Any]]) -> Table:
    out = Table(title="PostgreSQL samples (MiB; rows as pg_stat_user_tables counts them)")
    for col in (
        "t s",
        "enqueued",
        "processed",
        "queued",
        "finished kept",
        "tasks heap",
        "tasks indexes",
        "tasks total",
        "dead rows",
        "vacuums",
        "deps total",
        "all",
    ):
        out.add_column(col, justify="right")
    for s in shown(samples):
        tasks, deps = s[TABLES[0]], s[TABLES[1]]
        out.add_row(
            *_progress(s),
            _mib(tasks["heap"]),
            _mib(tasks["indexes"]),
            _mib(tasks["total"]),
            f"{tasks['dead_rows']:,}",
            f"{tasks['vacuums']}",
            _mib(deps["total"]),
            _mib(total_bytes(s)),
        )
    return out


def sqlite_samples(samples: list[dict[str, Any]]) -> Table:
    out = Table(title="SQLite samples (MiB)")
    for col in (
        "t s",
        "enqueued",
        "processed",
        "queued",
        "finished kept",
        "file",
        "free pages",
        "WAL",
        "all",
    ):
        out.add_column(col, justify="right")
    for s in shown(samples):
        out.add_row(
            *_progress(s),
            _mib(s["file"]),
            _mib(s["free"]),
            _mib(s["wal"]),
            _mib(s["total"]),
        )
    return out


def tables(result: dict[str, Any]) -> list[Table]:
    out = [summary(result)]
    for name, r in result.items():
        if name == "plan" or "error" in r:
            continue
        if name == "conveyor-postgres":
            out.append(postgres_samples(r["samples"]))
        else:
            out.append(sqlite_samples(r["samples"]))
    return out


def errors(result: dict[str, Any]) -> list[str]:
    return [
        f"storage {k}: {v['error']}"
        for k, v in result.items()
        if isinstance(v, dict) and "error" in v
    ]
