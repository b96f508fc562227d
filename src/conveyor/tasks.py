"""Task definitions: `@app.task` turns a function into a `TaskFunction`.

A TaskFunction reaches its Conveyor through the small `Producer` protocol, so the worker
can import the `Registry` without importing the client layer.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, ParamSpec, Protocol, TypedDict, TypeVar, Unpack

from conveyor.core.cron import Schedule
from conveyor.core.frozen import builder
from conveyor.core.task import (
    JSONValue,
    NewTask,
    ParentFailure,
    Priority,
    RetryPolicy,
    Status,
    Task,
)
from conveyor.errors import (
    ConfigurationError,
    TaskCancelled,
    TaskFailed,
    UnknownTaskError,
)
from conveyor.store.base import Enqueued

P = ParamSpec("P")
R = TypeVar("R")
_build_new_task = builder(NewTask)


class Producer(Protocol):
    """What a TaskFunction and a TaskHandle need of their Conveyor."""

    def submit(self, new: NewTask, connection: Any = None) -> TaskHandle: ...

    async def asubmit(self, new: NewTask) -> TaskHandle: ...

    def get(self, task_id: str) -> Task: ...

    async def aget(self, task_id: str) -> Task: ...


class EnqueueOptions(TypedDict, total=False):
    """The options of one enqueue, as callers spell them (`priority="high"`)."""

    queue: str | None
    priority: str | Priority | None
    delay: float
    run_at: datetime | None
    idempotency_key: str | None
    max_attempts: int | None
    timeout: float | None
    group: str | None
    concurrency_key: str | None
    on_parent_failure: str | ParentFailure
    connection: Any


_OPTION_NAMES = frozenset(EnqueueOptions.__annotations__)


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """Per-enqueue options; None means the task's default."""

    queue: str | None = None
    priority: Priority | None = None
    delay: float = 0.0
    run_at: datetime | None = None
    idempotency_key: str | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    group: str | None = None
    concurrency_key: str | None = None
    on_parent_failure: ParentFailure = ParentFailure.CANCEL
    """For a workflow member: what to do when a parent fails for good or is cancelled."""
    connection: Any = field(default=None, compare=False, repr=False)
    """The caller's own open database connection: enqueue inside its transaction."""

    @classmethod
    def of(cls, **options: Unpack[EnqueueOptions]) -> TaskOptions:
        """Checked options: the priority parsed, the delay a number of seconds >= 0."""
        if not options.keys() <= _OPTION_NAMES:
            unknown = sorted(options.keys() - _OPTION_NAMES)
            known = ", ".join(EnqueueOptions.__annotations__)
            raise ConfigurationError(f"unknown enqueue option(s) {unknown}; known: {known}")
        priority = options.get("priority")
        on_parent_failure = options.get("on_parent_failure", ParentFailure.CANCEL)
        # Every field, in declaration order (frozen.builder): the API builds one per task.
        return _build_options(
            (
                options.get("queue"),
                None if priority is None else Priority.parse(priority),
                check_delay(options.get("delay", 0.0)),
                options.get("run_at"),
                options.get("idempotency_key"),
                options.get("max_attempts"),
                options.get("timeout"),
                options.get("group"),
                options.get("concurrency_key"),
                (
                    on_parent_failure
                    if on_parent_failure is ParentFailure.CANCEL
                    else _parent_failure(on_parent_failure)
                ),
                options.get("connection"),
            )
        )


_build_options = builder(TaskOptions)


@dataclass(frozen=True, slots=True)
class TaskDefinition:
    name: str
    fn: Callable[..., Any]
    queue: str = "default"
    priority: Priority | None = None
    retry: RetryPolicy | None = None
    timeout: float | None = None
    is_async: bool = field(init=False, repr=False, compare=False)
    """Whether `fn` is a coroutine function; asked once per attempt, so answered once."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.fn))

    def new_task(
        self,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        options: TaskOptions = TaskOptions(),
    ) -> NewTask:
        retry = self.retry
        if options.max_attempts is not None:
            retry = replace(retry or RetryPolicy(), max_attempts=options.max_attempts)
        # Every field, in NewTask's order: one is built per enqueued task (frozen.builder).
        return _build_new_task(
            (
                self.name,
                options.queue or self.queue,
                list(args),
                dict(kwargs),
                self.priority if options.priority is None else options.priority,
                retry,
                self.timeout if options.timeout is None else options.timeout,
                options.delay,
                options.run_at,
                options.idempotency_key,
                options.group,
                options.concurrency_key,
                None,  # workflow_id
                (),  # parents
                None,  # pass_results
                options.on_parent_failure,
            )
        )


@dataclass(frozen=True, slots=True)
class Signature:
    """A task with its arguments, not yet enqueued: `add.s(1, 2)`.

    In a workflow a signature receives its parent's result as its first argument (the
    list of results after a group); an immutable one (`add.si(1, 2)`) receives nothing.
    """

    definition: TaskDefinition
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: TaskOptions = TaskOptions()
    immutable: bool = False
    producer: Producer | None = field(default=None, compare=False, repr=False)

    def new_task(self) -> NewTask:
        return self.definition.new_task(self.args, self.kwargs, self.options)

    def enqueue(self) -> TaskHandle:
        """Enqueue this one task on the app it came from."""
        if self.producer is None:
            raise ConfigurationError(
                f"signature of {self.definition.name!r} belongs to no app; "
                "enqueue it with app.enqueue_many([...])"
            )
        return self.producer.submit(self.new_task(), self.options.connection)


class TaskHandle:
    """The receipt of an enqueue: the task id, and a way to wait for the result.

    It holds what the store answered at enqueue (id, whether the task was created, its
    status and creation time), not the task's row: `task` reads that from the store.
    """

    __slots__ = ("_producer", "created", "created_at", "id", "status")

    def __init__(self, producer: Producer, receipt: Enqueued) -> None:
        self._producer = producer
        self.id = receipt.id
        self.created = receipt.created
        """False when an earlier task held the idempotency key; `id` is that task's."""
        self.status = receipt.status
        """The status at enqueue: waiting, queued or scheduled (the holder's, when not created)."""
        self.created_at = receipt.created_at

    def __repr__(self) -> str:
        return f"TaskHandle(id={self.id!r}, status={self.status.value!r}, created={self.created})"

    @property
    def task(self) -> Task:
        """The task as the store holds it now (one read).

        >>> handle.task.status  # doctest: +SKIP
        <Status.COMPLETED: 'completed'>
        """
        return self._producer.get(self.id)

    def wait(self, timeout: float | None = None, poll: float = 0.05) -> JSONValue:
        """Block until the task finishes; return its result or raise why it did not.

        >>> handle.wait(timeout=10)  # doctest: +SKIP
        3
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for delay in _poll_delays(poll):
            task = self._producer.get(self.id)
            if task.status.finished:
                return _outcome(task)
            _check_deadline(self.id, deadline, timeout)
            time.sleep(delay if deadline is None else min(delay, deadline - time.monotonic()))
        raise AssertionError("unreachable")  # pragma: no cover

    async def await_result(self, timeout: float | None = None, poll: float = 0.05) -> JSONValue:
        """The async form of `wait`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for delay in _poll_delays(poll):
            task = await self._producer.aget(self.id)
            if task.status.finished:
                return _outcome(task)
            _check_deadline(self.id, deadline, timeout)
            wait = delay if deadline is None else min(delay, deadline - time.monotonic())
            await asyncio.sleep(max(0.0, wait))
        raise AssertionError("unreachable")  # pragma: no cover


def _poll_delays(first: float) -> Iterator[float]:
    delay = first / 10
    while True:
        yield delay
        delay = min(first, delay * 2)


def _check_deadline(task_id: str, deadline: float | None, timeout: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError(f"task {task_id} did not finish within {timeout} seconds")


def _outcome(task: Task) -> JSONValue:
    if task.status is Status.COMPLETED:
        return task.result
    if task.status is Status.CANCELLED:
        last = task.errors[-1]["error"] if task.errors else ""
        why = f" ({last})" if last.startswith("cancelled: ") else ""
        raise TaskCancelled(f"task {task.id} ({task.name}) was cancelled{why}", task_id=task.id)
    last = task.errors[-1]["error"] if task.errors else "no error recorded"
    raise TaskFailed(
        f"task {task.id} ({task.name}) failed after {task.attempts} attempt(s): {last}",
        task_id=task.id,
    )


class BoundTask(Generic[P, R]):
    """A task with enqueue options applied: `add.options(delay=30).enqueue(1, 2)`."""

    def __init__(
        self, producer: Producer, definition: TaskDefinition, options: TaskOptions
    ) -> None:
        self._producer = producer
        self.definition = definition
        self._options = options

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle:
        new = self.definition.new_task(args, kwargs, self._options)
        return self._producer.submit(new, self._options.connection)

    async def aenqueue(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle:
        new = self.definition.new_task(args, kwargs, self._options)
        if self._options.connection is not None:
            # The caller's connection is not ours to use from another thread.
            return self._producer.submit(new, self._options.connection)
        return await self._producer.asubmit(new)

    def s(self, *args: P.args, **kwargs: P.kwargs) -> Signature:
        """A signature: this task and its arguments, for workflows and `enqueue_many`."""
        return Signature(self.definition, args, dict(kwargs), self._options, False, self._producer)

    def si(self, *args: P.args, **kwargs: P.kwargs) -> Signature:
        """An immutable signature: in a workflow it does not receive its parent's result."""
        return Signature(self.definition, args, dict(kwargs), self._options, True, self._producer)


class TaskFunction(BoundTask[P, R]):
    """What `@app.task` returns: callable as the plain function, and enqueueable."""

    def __init__(self, producer: Producer, definition: TaskDefinition) -> None:
        super().__init__(producer, definition, TaskOptions())
        self.name = definition.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        result: R = self.definition.fn(*args, **kwargs)
        return result

    def options(self, **options: Unpack[EnqueueOptions]) -> BoundTask[P, R]:
        """This task with enqueue options: `add.options(delay=30, priority="high")`.

        Options: queue, priority, delay (seconds), run_at (an aware datetime),
        idempotency_key, max_attempts, timeout, group, concurrency_key,
        on_parent_failure ("cancel" or "run", for workflow members) and connection
        (your own open sqlite3 or psycopg connection: the task is written in its
        transaction and exists only if that commits).
        """
        return BoundTask(self._producer, self.definition, TaskOptions.of(**options))


def _parent_failure(value: str | ParentFailure) -> ParentFailure:
    try:
        return ParentFailure(value)
    except ValueError:
        raise ConfigurationError(
            f"on_parent_failure {value!r} is not one of 'cancel', 'run'"
        ) from None


def check_delay(delay: float) -> float:
    if not isinstance(delay, int | float) or delay < 0:
        raise ConfigurationError(f"delay must be a number of seconds >= 0, not {delay!r}")
    return float(delay)


class Registry:
    """Task definitions by name; what a worker can run."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskDefinition] = {}
        self._schedules: dict[str, Schedule] = {}

    def add_schedule(self, schedule: Schedule) -> None:
        if schedule.name in self._schedules:
            raise ConfigurationError(
                f"schedule name {schedule.name!r} is already registered; "
                "pass name= to tell them apart"
            )
        self._schedules[schedule.name] = schedule

    def schedules(self) -> list[Schedule]:
        """The periodic tasks registered with @app.periodic, by name."""
        return [self._schedules[name] for name in sorted(self._schedules)]

    def add(self, definition: TaskDefinition) -> None:
        existing = self._tasks.get(definition.name)
        if existing is not None and existing.fn is not definition.fn:
            raise ConfigurationError(
                f"task name {definition.name!r} is already registered by "
                f"{existing.fn.__module__}.{existing.fn.__qualname__}; "
                "pass name= to tell them apart"
            )
        self._tasks[definition.name] = definition

    def get(self, name: str) -> TaskDefinition:
        try:
            return self._tasks[name]
        except KeyError:
            known = ", ".join(sorted(self._tasks)) or "none"
            raise UnknownTaskError(
                f"no task named {name!r} is registered on this worker (known: {known})"
            ) from None

    def find(self, name: str) -> TaskDefinition | None:
        return self._tasks.get(name)

    def queues(self) -> list[str]:
        return sorted({d.queue for d in self._tasks.values()})

    def __iter__(self) -> Iterator[TaskDefinition]:
        return iter(self._tasks.values())

    def __len__(self) -> int:
        return len(self._tasks)
