"""Sync handlers' returns reach the loop in batches (`executor._Returns`): every attempt
still gets its own result or error, and an attempt cancelled before its thread took it
never runs."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

from conveyor.core.task import (
    Claimed,
    Completion,
    Failure,
    Lease,
    Priority,
    RetryPolicy,
    Status,
    Task,
)
from conveyor.tasks import Registry, TaskDefinition
from conveyor.worker.executor import Attempt, HandlerExecutor
from tests.waiting import wait_until


def claimed(name: str, args: list[Any], timeout: float | None = None) -> Claimed:
    now = datetime.now(UTC)
    task = Task(
        id=f"{name}-{args}",
        name=name,
        queue="default",
        status=Status.RUNNING,
        priority=Priority.NORMAL,
        args=args,
        kwargs={},
        attempts=1,
        max_attempts=1,
        retry=RetryPolicy(max_attempts=1),
        timeout=timeout,
        result=None,
        errors=[],
        created_at=now,
        run_at=now,
        started_at=now,
        finished_at=None,
        idempotency_key=None,
        worker_id="w",
        lease_expires_at=None,
    )
    return Claimed(task, Lease(task.id, 1))


def executor(threads: int, **handlers: Any) -> HandlerExecutor:
    registry = Registry()
    for name, fn in handlers.items():
        registry.add(TaskDefinition(name, fn))
    return HandlerExecutor(registry, "w", threads)


def test_many_sync_handlers_returning_at_once_each_get_their_own_outcome() -> None:
    def double(x: int) -> int:
        if x % 7 == 3:
            raise ValueError(f"bad {x}")
        return 2 * x

    runner = executor(8, double=double)

    async def main() -> list[Any]:
        return await asyncio.gather(*(runner.execute(claimed("double", [i])) for i in range(200)))

    try:
        outcomes = asyncio.run(main())
    finally:
        runner.close()

    for i, outcome in enumerate(outcomes):
        if i % 7 == 3:
            assert isinstance(outcome, Failure)
            assert outcome.error.error == f"ValueError: bad {i}"
            assert "raise ValueError" in outcome.error.traceback
        else:
            assert outcome == Completion(Lease(f"double-{[i]}", 1), 2 * i)


def test_an_attempt_that_times_out_before_a_thread_takes_it_never_runs() -> None:
    gate = threading.Event()
    entered = threading.Event()
    ran: list[str] = []

    def block() -> str:
        entered.set()
        gate.wait(timeout=10)
        return "blocked"

    def record(key: str) -> str:
        ran.append(key)
        return key

    runner = executor(1, block=block, record=record)

    async def main() -> tuple[Any, Any]:
        first = asyncio.ensure_future(runner.execute(claimed("block", [])))
        assert await asyncio.to_thread(entered.wait, 10)  # the only thread is taken
        second = await runner.execute(claimed("record", ["late"], timeout=0.1))
        gate.set()
        return await first, second

    try:
        first, second = asyncio.run(main())
    finally:
        runner.close()

    assert first.result == "blocked"
    assert isinstance(second, Failure)
    assert "timed out" in second.error.error
    assert ran == []


def test_a_handler_raising_stop_iteration_fails_its_attempt() -> None:
    def stop() -> None:
        raise StopIteration("done")

    runner = executor(2, stop=stop)
    try:
        outcome = asyncio.run(asyncio.wait_for(runner.execute(claimed("stop", [])), 10))
    finally:
        runner.close()

    assert isinstance(outcome, Failure)
    assert "StopIteration" in outcome.error.error


def test_a_failing_completion_callback_does_not_strand_the_returns_after_it() -> None:
    """Two handlers return before the loop looks, so one delivery settles both: the first
    attempt's callback raising must not leave the second unsettled (nothing else would
    ever deliver it)."""
    returned = [threading.Event(), threading.Event()]

    def quick(n: int) -> int:
        returned[n].set()
        return n

    runner = executor(2, quick=quick)
    settled: list[Any] = []
    reported: list[dict[str, Any]] = []

    both_settled = asyncio.Event()

    def on_done(attempt: Attempt) -> None:
        settled.append(attempt.result())
        if len(settled) == 2:
            both_settled.set()
        if attempt.result() == 0:
            raise RuntimeError("callback broke")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: reported.append(context))
        first = runner.start(claimed("quick", [0]), on_done)
        assert first is not None
        assert returned[0].wait(10)  # blocks the loop meanwhile
        second = runner.start(claimed("quick", [1]), on_done)
        assert second is not None
        assert returned[1].wait(10)
        # Both returns queued before the loop runs its delivery (still blocking the loop).
        wait_until(
            lambda: len(runner._returns._ready) == 2,  # type: ignore[union-attr]
            interval=0.001,
            message="both returns queued",
        )
        await asyncio.wait_for(both_settled.wait(), 10)

    try:
        asyncio.run(main())
    finally:
        runner.close()

    assert sorted(settled) == [0, 1]
    assert [str(c["exception"]) for c in reported] == ["callback broke"]


def test_an_attempt_no_thread_took_is_cancelled_when_the_executor_closes() -> None:
    gate = threading.Event()
    entered = threading.Event()

    def block() -> None:
        entered.set()
        gate.wait(timeout=10)

    runner = executor(1, block=block)

    async def main() -> BaseException | None:
        first = asyncio.ensure_future(runner.execute(claimed("block", [])))
        assert await asyncio.to_thread(entered.wait, 10)  # the only thread is taken
        waiting = asyncio.ensure_future(runner.execute(claimed("block", [1])))
        await asyncio.sleep(0)  # let it queue its attempt
        runner.close()
        try:
            await asyncio.wait_for(waiting, 10)
        except asyncio.CancelledError as exc:
            return exc
        finally:
            gate.set()
            await first
        return None

    assert isinstance(asyncio.run(main()), asyncio.CancelledError)
