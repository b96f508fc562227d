"""Dependencies between tasks, the same way for both backends.

A workflow is stored as tasks plus edges (`conveyor_dependencies`). A task with parents
is `waiting`, with `waiting_on` counting the parents whose outcome has not been counted.
When a parent finishes, `settle` counts its outcome against each child exactly once (the
edge's `settled` flag flips in the same transaction):

- a completed parent (or any finished parent of a child that runs anyway) lowers the
  child's count; at zero the child is queued, its parents' results put in front of its
  arguments as it asked (`pass_results`);
- a parent that failed for good, was cancelled or was deleted cancels the child, with an
  error naming that parent, and the child's own dependents are settled in turn;
- replaying a failed parent `revive`s the dependents it cancelled, in the same
  transaction: they wait again for every parent whose edge is not counted.

Backends run `settle` right after an outcome (SQLite in the outcome's transaction,
PostgreSQL in a transaction of its own) and the reaper runs `settle_stragglers`, which
finds finished parents whose edges are still unsettled: a crash between an outcome and
its settling delays the dependents by one reaper interval and loses nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conveyor.core import payload
from conveyor.core.task import NewTask, ParentFailure, PassResults
from conveyor.errors import ConfigurationError

Run = Callable[[str, dict[str, Any]], Sequence[Mapping[str, Any]]]
"""Runs one named query of the backend with these parameters and returns its rows."""

SWEEP_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Plan:
    """The ids, edges and flags of one enqueue batch."""

    ids: list[str]
    edges: list[tuple[str, str, int]]
    """(parent id, child id, position among the child's parents)."""
    has_dependents: list[bool]


def plan(tasks: Sequence[NewTask], ids: Sequence[str] | None = None) -> Plan:
    """Give each task an id and turn `parents` positions into edges.

    Parents must come earlier in the same batch, which also makes every graph acyclic.
    """
    ids = list(ids) if ids is not None else new_ids(len(tasks))
    edges: list[tuple[str, str, int]] = []
    has_dependents = [False] * len(tasks)
    for index, new in enumerate(tasks):
        if new.parents and new.idempotency_key is not None:
            raise ConfigurationError(
                f"task {index} ({new.name}) waits for other tasks and has an idempotency "
                "key; a workflow member cannot be deduplicated on its own"
            )
        for position, parent in enumerate(new.parents):
            if not 0 <= parent < index:
                raise ConfigurationError(
                    f"task {index} ({new.name}) names parent {parent}; a parent must be an "
                    "earlier task of the same enqueue"
                )
            if tasks[parent].idempotency_key is not None:
                raise ConfigurationError(
                    f"task {parent} ({tasks[parent].name}) has dependents and an "
                    "idempotency key; a workflow member cannot be deduplicated on its own"
                )
            has_dependents[parent] = True
            edges.append((ids[parent], ids[index], position))
    return Plan(ids, edges, has_dependents)


_UUID_VERSION_BITS = (0xF << 76) | (0x3 << 62)
_UUID_VERSION_7 = (0x7 << 76) | (0x2 << 62)


def new_ids(count: int) -> list[str]:
    """`count` new task ids: UUIDs of version 7 (RFC 9562), ascending within the batch.

    A version-7 id starts with the millisecond it was made and keeps 74 random bits, so
    it is as unique as a random one, but new ids land at the end of the id index, not all
    over it: a random id made every insert touch a different page of that index (on
    SQLite that alone cost a third of a bulk enqueue), and `uuid.uuid4()` per task cost
    more than the rest of planning.

    >>> import uuid; [uuid.UUID(i).version for i in new_ids(2)]
    [7, 7]
    """
    stamp = (time.time_ns() // 1_000_000) << 80
    raw = os.urandom(10 * count)
    values = sorted(
        (stamp | int.from_bytes(raw[start : start + 10])) & ~_UUID_VERSION_BITS | _UUID_VERSION_7
        for start in range(0, 10 * count, 10)
    )
    ids: list[str] = []
    for value in values:
        digits = f"{value:032x}"
        ids.append(f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}")
    return ids


def columns(new: NewTask, has_dependents: bool) -> dict[str, Any]:
    """The workflow columns of one new task."""
    return {
        "workflow_id": new.workflow_id,
        "waiting_on": len(new.parents),
        "pass_results": None if new.pass_results is None else new.pass_results.value,
        "on_parent_failure": new.on_parent_failure.value,
        "has_dependents": has_dependents,
    }


def settle(run: Run, parent_ids: Sequence[str], now: float | None) -> list[str]:
    """Count these finished parents against their children; return the queues of the
    children that became due."""
    due: list[str] = []
    pending = list(dict.fromkeys(parent_ids))
    while pending:
        edges = run("settle_edges", {"ids": pending})
        pending = []
        if not edges:
            break
        by_child: dict[str, list[str]] = {}
        for edge in edges:
            by_child.setdefault(edge["child_id"], []).append(edge["parent_id"])
        states = {row["id"]: row for row in run("task_states", {"ids": _parent_ids(edges)})}
        ready: list[str] = []
        for child in run("waiting_children", {"ids": list(by_child)}):
            child_id = child["id"]
            bad = _first_bad(by_child[child_id], states)
            if bad is not None and child["on_parent_failure"] == ParentFailure.CANCEL.value:
                reason = _reason(bad, states.get(bad))
                rows = run("cancel_dependent", {"id": child_id, "reason": reason, "now": now})
                pending.extend(r["id"] for r in rows if r["has_dependents"])
                continue
            counted = run("count_parents", {"id": child_id, "n": len(by_child[child_id])})
            if counted and counted[0]["waiting_on"] <= 0:
                ready.append(child_id)
        due.extend(_promote(run, ready, now))
    return due


def revive(run: Run, parent_ids: Sequence[str]) -> None:
    """Replayed parents give back the dependents their failure cancelled, and those give
    back theirs: each waits again for its parents that have not completed. A dependent
    that another parent's failure (or a delete) would cancel again stays cancelled, and
    one cancelled by hand is never revived (its last error is not a parent's notice)."""
    pending = list(dict.fromkeys(parent_ids))
    while pending:
        children = run("cancelled_children", {"ids": pending})
        pending = []
        for child in children:
            run("lock_edges", {"id": child["id"]})
            run("unsettle_edges", {"id": child["id"]})
            revived = run("revive_dependent", {"id": child["id"]})
            pending.extend(row["id"] for row in revived if row["has_dependents"])


def settle_stragglers(run: Run, now: float | None) -> list[str]:
    """Settle finished parents whose edges a crash left unsettled; the reaper's sweep."""
    rows = run("unsettled_parents", {"limit": SWEEP_LIMIT})
    return settle(run, [row["parent_id"] for row in rows], now) if rows else []


def _parent_ids(edges: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(edge["parent_id"] for edge in edges))


def _first_bad(parent_ids: Sequence[str], states: Mapping[str, Mapping[str, Any]]) -> str | None:
    for parent_id in parent_ids:
        state = states.get(parent_id)
        if state is None or state["status"] != "completed":
            return parent_id
    return None


def _reason(parent_id: str, state: Mapping[str, Any] | None) -> str:
    if state is None:
        return f"parent task {parent_id} was deleted before it completed"
    return f"parent task {parent_id} ({state['name']}) {state['status']}"


def _promote(run: Run, ready: Sequence[str], now: float | None) -> list[str]:
    """Queue children whose parents are all counted, with the results they asked for."""
    queues: list[str] = []
    for child_id in ready:
        rows = run("parent_results", {"id": child_id})
        if not rows:
            continue
        child = rows[0]
        args = _json(child["args"])
        mode = child["pass_results"]
        results = [_json(r["result"]) for r in rows if r["parent_id"] is not None]
        if mode == PassResults.ONE.value:
            args = [results[0] if results else None, *args]
        elif mode == PassResults.ALL.value:
            args = [results, *args]
        promoted = run("promote", {"id": child_id, "args": payload.dumps(args), "now": now})
        queues.extend(row["queue"] for row in promoted)
    return queues


def _json(value: Any) -> Any:
    return payload.loads(value) if isinstance(value, str | bytes) else value
