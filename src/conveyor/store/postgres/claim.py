"""Claims from queues with limits: a rate, max_concurrent or max_per_key.

A limited queue is claimed with its settings row locked (`lock_queues`), so concurrent
claims of one queue take turns: its running count and token bucket cannot change under a
claim, and its bucket's clock, the database's read once the rows are locked, only moves
forward. The plain queues asked for in the same call are claimed in the same transaction
and ranked with the limited ones, so both kinds share one priority order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from psycopg.rows import tuple_row

from conveyor.core.task import Claimed
from conveyor.store.limits import QueueState
from conveyor.store.postgres.connections import Conn
from conveyor.store.postgres.queries import Q, Row
from conveyor.store.rows import claimed_from_rows, queue_from_row


def claim_rows(conn: Conn, query: str, params: dict[str, Any]) -> list[Claimed]:
    """Run a claim statement; its rows come back as tuples (see `claimed_from_rows`)."""
    cursor = conn.cursor(row_factory=tuple_row)
    rows = cursor.execute(query, params).fetchall()
    if not rows or cursor.description is None:
        return []
    return claimed_from_rows([d.name for d in cursor.description], rows)


def store_clock(conn: Conn, now: float | None) -> float:
    """`now` when a test gives one, else the database's clock as it reads at this moment."""
    if now is not None:
        return now
    value: float = conn.execute(Q["clock"], {}).fetchone()["now"]  # type: ignore[index]
    return value


def queue_states(
    conn: Conn, query: str, queues: Sequence[str], clock: float
) -> dict[str, QueueState]:
    """The unpaused queues among `queues`, with what their limits allow now."""
    return _states_of(conn, conn.execute(query, {"queues": list(queues)}).fetchall(), clock)


def _states_of(conn: Conn, rows: list[Row], clock: float) -> dict[str, QueueState]:
    states: dict[str, QueueState] = {}
    for row in rows:
        row["tokens_at"] = row.pop("tokens_at_seconds")
        settings = queue_from_row(row)
        if settings.paused:
            continue
        running = 0
        if settings.max_concurrent is not None:
            running = conn.execute(Q["running_count"], {"queue": settings.name}).fetchone()["n"]  # type: ignore[index]
        states[settings.name] = QueueState.of(settings, row, running, clock)
    return states


def claim_limited(conn: Conn, params: dict[str, Any], limited: list[str]) -> list[Claimed]:
    """Claim from `limited` queues with their settings rows locked: concurrent claims of
    one queue take turns, so its running count and token bucket cannot change under us.

    The other queues asked for are claimed in the same transaction, as many of their
    tasks as rank among the best `limit` of both kinds: claiming them first would starve
    a limited queue behind a busy plain one, whatever its tasks' priority.
    """
    locked = conn.execute(Q["lock_queues"], {"queues": limited}).fetchall()
    # The store's clock, read once the rows are ours: claims of a queue take turns, so
    # its bucket's clock only moves forward, and a worker host's clock plays no part.
    clock = store_clock(conn, params["now"])
    states = _states_of(conn, locked, clock)
    heads: list[tuple[int, int, str]] = []
    throttled: list[str] = []
    for queue, state in states.items():
        allowed = state.allowance(params["limit"])
        held_back = allowed < params["limit"]
        query = Q["claim_candidates"]
        # One more than allowed when a limit holds the queue back: whether it held a due
        # task back, which /metrics counts as a throttled claim.
        wanted = {"queue": queue, "now": clock, "limit": allowed + held_back}
        if state.settings.max_per_key is not None:
            query = Q["claim_candidates_per_key"]
            wanted["max_per_key"] = state.settings.max_per_key
        found = conn.execute(query, wanted).fetchall()
        if len(found) > allowed:
            throttled.append(queue)
        heads.extend((r["priority"], r["seq"], queue) for r in found[:allowed])
    if throttled:
        conn.execute(Q["count_throttled"], {"queues": throttled})
    claimed: list[Claimed] = []
    plain = [q for q in params["queues"] if q not in limited]
    if plain:
        peeked = {
            row["seq"]: (row["priority"], row["seq"], queue)
            for queue in plain
            for row in conn.execute(
                Q["claim_candidates"], {"queue": queue, "now": clock, "limit": params["limit"]}
            ).fetchall()
        }
        ranked = sorted([*heads, *peeked.values()])[: params["limit"]]
        take = sum(1 for _, seq, _ in ranked if seq in peeked)
        if take:
            claimed = claim_rows(conn, Q["claim"], {**params, "queues": plain, "limit": take})
    chosen = sorted(heads)[: params["limit"] - len(claimed)]
    if not chosen:
        return claimed
    seqs = [seq for _, seq, _ in chosen]
    claimed += claim_rows(conn, Q["claim_limited"], {**params, "now": clock, "seqs": seqs})
    for queue, count in Counter(q for _, _, q in chosen).items():
        tokens = states[queue].tokens
        if tokens is not None:
            conn.execute(
                Q["spend_tokens"], {"queue": queue, "tokens": tokens - count, "now": clock}
            )
    return claimed
