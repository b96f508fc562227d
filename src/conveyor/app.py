"""Conveyor: the client layer. Define tasks, enqueue, inspect, cancel, replay.

Every method is a thin shell around one store operation; sync methods call the store
directly and `a`-prefixed ones run the same call in the store's thread pool.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, Unpack, overload

from conveyor.batches import BatchHandle, ProgressCallback, enqueue_batch
from conveyor.core import payload
from conveyor.core.cron import Every, FireRule, Misfire, Schedule, ScheduleSpec
from conveyor.core.queue import QueueSettings, coerce
from conveyor.core.retry import retry_delay
from conveyor.core.tallies import ProcessingTimes, QueueTotals
from conveyor.core.task import (
    AttemptError,
    Claimed,
    Completion,
    Failure,
    JSONValue,
    Lease,
    NewTask,
    Priority,
    RetryPolicy,
    Status,
    Task,
)
from conveyor.core.workers import WorkerInfo
from conveyor.core.workflow import WorkflowView
from conveyor.errors import ConfigurationError, InvalidTransition, TaskNotFound
from conveyor.schedules import CronRule, schedule_of
from conveyor.settings import resolve_push_allow, resolve_url
from conveyor.store import open_store
from conveyor.store.aio import AsyncStore
from conveyor.store.base import Page, QueueActivity, QueueStats, Store, TaskFilter
from conveyor.tasks import (
    EnqueueOptions,
    Registry,
    Signature,
    TaskDefinition,
    TaskFunction,
    TaskHandle,
    TaskOptions,
)

if TYPE_CHECKING:
    from conveyor.queue_yaml import QueueChange

P = ParamSpec("P")
R = TypeVar("R")

Enqueueable = Signature | NewTask | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """A queue as operators see it: settings and live counts."""

    name: str
    paused: bool
    counts: dict[str, int]
    oldest_queued_age: float | None
    settings: QueueSettings

    @classmethod
    def of(cls, stats: QueueStats | None, settings: QueueSettings) -> QueueInfo:
        return cls(
            name=settings.name,
            paused=settings.paused,
            counts={s.value: (stats.counts.get(s.value, 0) if stats else 0) for s in Status},
            oldest_queued_age=stats.oldest_queued_age if stats else None,
            settings=settings,
        )


ASYNC_STORE_THREADS = 10
"""Threads for the async door to the store (`astore`), as many as the PostgreSQL pool's
connections by default: its callers (the HTTP API's routes) have many requests in flight,
each waiting mostly on the database's commit, and with fewer threads than connections
concurrent enqueues would queue for a thread instead of sharing a commit."""


class Conveyor:
    """One queue application: a store URL and the tasks registered on it.

    >>> app = Conveyor("sqlite:///conveyor.db")  # doctest: +SKIP
    >>> @app.task(queue="emails")                # doctest: +SKIP
    ... def send(to: str) -> None: ...
    """

    def __init__(
        self, url: str | None = None, *, push_allow: str | Sequence[str] | None = None
    ) -> None:
        self.url = resolve_url(url)
        self.push_allow = resolve_push_allow(push_allow)
        """URL patterns push targets must match (default: CONVEYOR_PUSH_ALLOW)."""
        self.registry = Registry()
        self._store: Store | None = None
        self._astore: AsyncStore | None = None
        self._lock = threading.Lock()

    # -- the store, opened on first use ---------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_store(self.url)
        return self._store

    @property
    def astore(self) -> AsyncStore:
        if self._astore is None:
            store = self.store
            with self._lock:
                if self._astore is None:
                    self._astore = AsyncStore(store, threads=ASYNC_STORE_THREADS)
        return self._astore

    def use_store(self, store: Store) -> None:
        """Share an already open store (the worker and the CLI do this)."""
        self._store = store

    def close(self) -> None:
        if self._astore is not None:
            self._astore.close()
            self._astore = None
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- defining tasks ----------------------------------------------------------------

    @overload
    def task(self, fn: Callable[P, R], /) -> TaskFunction[P, R]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        queue: str = "default",
        priority: str | Priority | None = None,
        max_attempts: int | None = None,
        min_backoff: float | None = None,
        max_backoff: float | None = None,
        max_doublings: int | None = None,
        timeout: float | None = None,
    ) -> Callable[[Callable[P, R]], TaskFunction[P, R]]: ...

    def task(
        self,
        fn: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        queue: str = "default",
        priority: str | Priority | None = None,
        max_attempts: int | None = None,
        min_backoff: float | None = None,
        max_backoff: float | None = None,
        max_doublings: int | None = None,
        timeout: float | None = None,
    ) -> TaskFunction[P, R] | Callable[[Callable[P, R]], TaskFunction[P, R]]:
        """Register a function as a task; its name defaults to the function's name.

        Options left out come from the queue's settings, else the defaults: priority
        normal, max_attempts 3, min_backoff 1 s, max_backoff 3600 s, max_doublings 16.
        Any retry option given makes the task's policy win over the queue's, whole.
        """
        retry = _retry_policy(max_attempts, min_backoff, max_backoff, max_doublings)
        level = None if priority is None else Priority.parse(priority)
        _check_timeout(timeout)

        def register(f: Callable[P, R]) -> TaskFunction[P, R]:
            definition = TaskDefinition(
                name=name or f.__name__,
                fn=f,
                queue=queue,
                priority=level,
                retry=retry,
                timeout=timeout,
            )
            self.registry.add(definition)
            return TaskFunction(self, definition)

        return register(fn) if fn is not None else register

    def periodic(
        self,
        *,
        cron: str | None = None,
        every: float | timedelta | None = None,
        timezone: str = "UTC",
        args: Sequence[JSONValue] = (),
        kwargs: Mapping[str, JSONValue] | None = None,
        queue: str | None = None,
        name: str | None = None,
        misfire: str | Misfire = Misfire.ONCE,
    ) -> Callable[[TaskFunction[P, R]], TaskFunction[P, R]]:
        """Enqueue a task on a schedule; stack it above `@app.task`.

        Give `cron` (five fields, read in `timezone`) or `every` (seconds or a timedelta).
        Each tick is enqueued once, whatever the number of workers and servers. After
        downtime, `misfire="once"` runs the missed ticks once; `"skip"` drops them.

        >>> @app.periodic(cron="*/5 * * * *", timezone="Europe/Berlin")  # doctest: +SKIP
        ... @app.task
        ... def report() -> None: ...
        """
        rule = _fire_rule(cron, every, timezone)
        policy = Misfire(misfire)

        def register(task: TaskFunction[P, R]) -> TaskFunction[P, R]:
            template = task.definition.new_task(list(args), kwargs or {}, TaskOptions(queue=queue))
            schedule = Schedule(
                name=name or task.name,
                rule=rule,
                template=_checked(template),
                misfire=policy,
                timezone=timezone,
            )
            self.registry.add_schedule(schedule)
            return task

        return register

    def schedules(self, now: datetime | None = None) -> list[ScheduleInfo]:
        """Each schedule, the app's (from code) and those stored, by name, with its next
        run after `now` (the store's clock). A stored one named like one in code is
        shadowed by it, as in the cron duty."""
        at = now or self.store.now()
        found = {s.name: ScheduleInfo(s, s.next_fire(at)) for s in self.registry.schedules()}
        for spec in self.store.list_schedules():
            if spec.name not in found:
                schedule = schedule_of(spec)
                found[spec.name] = ScheduleInfo(schedule, schedule.next_fire(at), stored=True)
        return [found[name] for name in sorted(found)]

    def set_schedule(
        self,
        name: str,
        task: str,
        *,
        cron: str | None = None,
        every: float | timedelta | None = None,
        timezone: str = "UTC",
        queue: str = "default",
        args: Sequence[JSONValue] = (),
        kwargs: Mapping[str, JSONValue] | None = None,
        misfire: str | Misfire = Misfire.ONCE,
    ) -> ScheduleInfo:
        """Store a schedule (replacing one of that name): every node's cron duty fires it,
        with no code needed, enqueueing `task` by name. For apps without Python on the
        scheduling side; in Python, `@app.periodic` keeps schedules next to their code."""
        seconds = every.total_seconds() if isinstance(every, timedelta) else every
        spec = ScheduleSpec(
            name=name,
            task=task,
            queue=queue,
            cron=cron,
            every=None if seconds is None else float(seconds),
            timezone=timezone,
            args=list(args),
            kwargs=dict(kwargs or {}),
            misfire=_misfire(misfire),
        )
        schedule = schedule_of(spec)
        payload.check_arguments(task, spec.args, spec.kwargs)
        self.store.set_schedules([spec])
        return ScheduleInfo(schedule, schedule.next_fire(self.store.now()), stored=True)

    def delete_schedule(self, name: str) -> None:
        """Remove a stored schedule; `TaskNotFound` when none has that name."""
        if not self.store.delete_schedules([name]):
            raise TaskNotFound(f"no stored schedule is named {name!r}")

    # -- enqueue -----------------------------------------------------------------------

    def submit(self, new: NewTask, connection: Any = None) -> TaskHandle:
        """Enqueue one task; with `connection`, inside the caller's open transaction."""
        [handle] = self.submit_many([new], connection)
        return handle

    async def asubmit(self, new: NewTask) -> TaskHandle:
        checked = _checked(new)
        [done] = await self.astore.enqueue([checked])
        return TaskHandle(self, done)

    def submit_many(self, news: Sequence[NewTask], connection: Any = None) -> list[TaskHandle]:
        """Enqueue tasks in one transaction (the caller's, with `connection`)."""
        checked = [_checked(n) for n in news]
        stored = self.store.enqueue(checked, connection=connection)
        return [TaskHandle(self, receipt) for receipt in stored]

    def enqueue(
        self,
        name: str,
        args: Sequence[JSONValue] = (),
        kwargs: Mapping[str, JSONValue] | None = None,
        **options: Unpack[EnqueueOptions],
    ) -> TaskHandle:
        """Enqueue a task by name, for producers that do not import the task.

        Options are those of `TaskFunction.options`.

        >>> app.enqueue("add", args=[1, 2], priority="high")  # doctest: +SKIP
        """
        new = self.new_task(name, args, kwargs, **options)
        return self.submit(new, options.get("connection"))

    def new_task(
        self,
        name: str,
        args: Sequence[JSONValue] = (),
        kwargs: Mapping[str, JSONValue] | None = None,
        **options: Unpack[EnqueueOptions],
    ) -> NewTask:
        """The task `enqueue` would store, with the registered task's defaults applied.

        The arguments are checked when the store encodes them, with the same errors:
        checking them here too encoded every argument twice.
        """
        definition = self._by_name(name)
        new = definition.new_task(args, kwargs or {}, TaskOptions.of(**options))
        return _checked(new)

    def enqueue_many(self, items: Iterable[Enqueueable]) -> list[TaskHandle]:
        """Enqueue many tasks in one transaction: all are stored, or none.

        Items are signatures (`add.s(1, 2)`), `NewTask` values, or mappings with the
        keyword arguments of `enqueue` (`{"name": "add", "args": [1, 2]}`).
        """
        return self.submit_many([self._to_new_task(item) for item in items])

    def map(
        self,
        task: TaskFunction[..., Any] | str,
        iterable: Iterable[Any],
        chunk_size: int = 1000,
        *,
        on_progress: ProgressCallback | None = None,
        **options: Unpack[EnqueueOptions],
    ) -> BatchHandle:
        """Enqueue one task per item of `iterable`, `chunk_size` tasks per transaction.

        Each item is the arguments of one task: a tuple or list the positional
        arguments, a dict (any mapping) the keyword arguments, anything else the single
        positional argument (wrap a list argument: `([1, 2],)`). Items are consumed
        lazily, so a generator of millions runs in constant memory besides the handle's
        16 bytes per member. If a chunk fails, earlier chunks stay enqueued. Options are
        those of `enqueue`; `idempotency_key` becomes a prefix, `KEY:INDEX` per item, so
        mapping the same items with the same key again enqueues nothing twice.
        `on_progress(count)` is called after each chunk with the members enqueued so far.

        >>> batch = app.map(add, [(1, 2), (3, 4)], chunk_size=500)  # doctest: +SKIP
        >>> batch.wait(timeout=30)                                   # doctest: +SKIP
        [3, 7]
        """
        definition = self._by_name(task) if isinstance(task, str) else task.definition
        checked = TaskOptions.of(**options)

        def enqueue_chunk(news: Sequence[NewTask]) -> list[str]:
            stored = self.store.enqueue([_checked(n) for n in news], connection=checked.connection)
            return [receipt.id for receipt in stored]

        return enqueue_batch(
            self, enqueue_chunk, definition, iterable, checked, chunk_size, on_progress
        )

    def _to_new_task(self, item: Enqueueable) -> NewTask:
        if isinstance(item, Signature):
            return item.new_task()
        if isinstance(item, NewTask):
            return item
        fields = dict(item)
        try:
            name = fields.pop("name")
        except KeyError:
            raise ConfigurationError(f"enqueue_many item {item!r} has no 'name'") from None
        args = fields.pop("args", ())
        kwargs = fields.pop("kwargs", None)
        return self.new_task(name, args, kwargs, **fields)

    def _by_name(self, name: str) -> TaskDefinition:
        """The registered definition, or defaults for a task this process does not know."""
        if not name or not isinstance(name, str):
            raise ConfigurationError(f"task name must be a non-empty string, not {name!r}")
        return self.registry.find(name) or _unknown_here(name)

    # -- inspect and control -----------------------------------------------------------

    def get(self, task_id: str) -> Task:
        task = self.store.get(str(task_id))
        if task is None:
            raise TaskNotFound(f"no task has id {task_id!r}")
        return task

    async def aget(self, task_id: str) -> Task:
        task = await self.astore.run(self.store.get, str(task_id))
        if task is None:
            raise TaskNotFound(f"no task has id {task_id!r}")
        return task

    def workflow(self, workflow_id: str) -> WorkflowView:
        """A workflow's (or batch's) members, in enqueue order, and its edges."""
        view = self.store.workflow(str(workflow_id))
        if view is None:
            raise TaskNotFound(f"no workflow has id {workflow_id!r}")
        return view

    def workflow_counts(self, workflow_id: str) -> dict[str, int]:
        """A workflow's (or batch's) members by state."""
        return self.store.workflow_counts(str(workflow_id))

    def cancel(self, task_id: str) -> Task:
        """Cancel a task that has not finished; a running one loses its lease."""
        if not self.store.cancel([str(task_id)]):
            task = self.get(task_id)
            if task.status is not Status.CANCELLED:
                raise InvalidTransition(
                    f"task {task_id} already finished as {task.status}", status=str(task.status)
                )
        return self.get(task_id)

    def list_tasks(
        self,
        *,
        queue: str | None = None,
        status: str | Status | None = None,
        name: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        idempotency_key: str | None = None,
    ) -> Page:
        if status is not None:
            status = _status(status)
        if not 1 <= limit <= 1000:
            raise ConfigurationError(f"limit must be between 1 and 1000, not {limit}")
        return self.store.list(
            TaskFilter(queue, status, name, idempotency_key), limit=limit, cursor=cursor
        )

    def stats(self) -> list[QueueStats]:
        return self.store.stats()

    def activity(
        self, window_seconds: float = 3600.0, bucket_seconds: float = 300.0
    ) -> list[QueueActivity]:
        """Per queue, tasks finished recently per time bucket, and processing p50/p95."""
        return self.store.activity(window_seconds, bucket_seconds)

    def queues(self) -> list[QueueInfo]:
        """Every queue that has tasks or settings, with counts by state."""
        stats = {s.queue: s for s in self.store.stats()}
        settings = {q.name: q for q in self.store.list_queues()}
        return [
            QueueInfo.of(stats.get(name), settings.get(name) or QueueSettings(name))
            for name in sorted(stats.keys() | settings.keys())
        ]

    def workers(self) -> list[WorkerInfo]:
        """Every registered worker, oldest first; `alive` is False once it missed three
        heartbeats (killed or cut off) or after it stopped gracefully (`stopped_at`)."""
        return self.store.list_workers()

    def totals(self) -> list[QueueTotals]:
        """Per queue, totals that only grow (enqueued, completed, failed, retried)."""
        return self.store.totals()

    def processing_times(
        self, window_seconds: float, buckets: Sequence[float]
    ) -> list[ProcessingTimes]:
        """How long tasks that finished in the last `window_seconds` ran, bucketed."""
        return self.store.processing_times(window_seconds, buckets)

    def queue_info(self, name: str) -> QueueInfo:
        stats = next((s for s in self.store.stats() if s.queue == name), None)
        return QueueInfo.of(stats, self.store.get_queue(name))

    def queue(self, name: str, **settings: Any) -> QueueSettings:
        """Create or change a queue's settings; settings not named keep their values,
        and None clears one back to its default.

        >>> app.queue("emails", rate="50/s", burst=10, max_concurrent=10)  # doctest: +SKIP

        A `target` (a URL, or a mapping of url/method/headers/deadline) makes it a push
        queue: the dispatcher POSTs its tasks there, signed with `secret`. The URL must
        pass the push allow-list.

        >>> app.queue("hooks", target="https://svc.example/{type}", secret="k")  # doctest: +SKIP
        """
        if "paused" in settings and settings["paused"] is None:
            settings["paused"] = False  # cleared: back to the default, not paused
        changes = coerce(settings)
        updated = self.store.get_queue(name).updated(**changes)
        if changes.get("target") is not None:
            self.push_allow.check_configured(changes["target"].url)
        self.store.set_queue(updated)
        return updated

    def rotate_secret(self, name: str, secret: str) -> QueueSettings:
        """Sign with `secret` from now on, and with the current secret too until
        `previous_secret` is cleared, so receivers can switch at their own pace."""
        current = self.store.get_queue(name)
        return self.queue(name, secret=secret, previous_secret=current.secret)

    def queue_settings(self, name: str) -> QueueSettings:
        return self.store.get_queue(name)

    def apply_queue_file(self, path: str | os.PathLike[str]) -> list[QueueSettings]:
        """Apply a queue.yaml file (App Engine's format, plus Conveyor's own keys).

        The whole file is read and checked first, against each queue's stored settings
        too; a `QueueFileError` lists every problem with its line and nothing is applied.
        Each queue named gets the settings the file gives; the rest keep their values.
        The file's `cron:` schedules are stored too, replacing those of the same names.
        """
        from conveyor.queue_yaml import load_queue_document  # YAML: only when a file is read

        document = load_queue_document(path)
        return self.apply_queue_changes(document.queues, document.schedules)

    def apply_queue_changes(
        self, changes: Sequence[QueueChange], schedules: Sequence[ScheduleSpec] = ()
    ) -> list[QueueSettings]:
        """Apply a queue file's changes: all are checked before the first is stored; then
        its schedules (checked when the file was read)."""
        from conveyor.queue_yaml import updated_settings

        updated = updated_settings(changes, self.store.get_queue)
        self.check_push_targets(changes)
        for settings in updated:
            self.store.set_queue(settings)
        if schedules:
            self.store.set_schedules(schedules)
        return updated

    def check_push_targets(self, changes: Sequence[QueueChange]) -> None:
        """Refuse the changes if a push target they set is outside the allow-list."""
        for change in changes:
            target = change.settings.get("target")
            if target is not None:
                self.push_allow.check_configured(coerce({"target": target})["target"].url)

    def pause(self, queue: str) -> None:
        """Stop handing out the queue's tasks; attempts already running finish."""
        self.store.set_queue(replace(self.store.get_queue(queue), paused=True))

    def resume(self, queue: str) -> None:
        self.store.set_queue(replace(self.store.get_queue(queue), paused=False))

    def replay(self, task_ids: Sequence[str] | None = None, queue: str | None = None) -> list[str]:
        """Dead letters back to the queue with fresh attempts; all of them when no ids."""
        return self.store.replay(None if task_ids is None else list(task_ids), queue)

    def purge(self, task_ids: Sequence[str] | None = None, queue: str | None = None) -> int:
        """Delete dead letters; all of them (of `queue`) when no ids are given."""
        return self.store.purge(None if task_ids is None else list(task_ids), queue)

    def migrate(self) -> list[int]:
        """Apply pending migrations; return the versions applied."""
        if self._store is None:
            # Opened the usual way, a SQLite file migrates itself and this would report
            # nothing applied.
            self.use_store(open_store(self.url, migrate=False))
        return self.store.migrate()

    # -- the pull protocol, for workers that reach the store through this client --------

    def lease(self, queue: str, limit: int, worker_id: str, lease_seconds: float) -> list[Claimed]:
        """Claim up to `limit` due tasks of one queue for an outside worker."""
        return self.store.claim([queue], limit, worker_id, lease_seconds)

    def heartbeat(self, task_id: str, token: int, lease_seconds: float) -> bool:
        return bool(self.store.heartbeat([Lease(task_id, token)], lease_seconds))

    def complete(self, task_id: str, token: int, result: JSONValue = None) -> bool:
        payload.check_result(task_id, result)
        return bool(self.store.complete([Completion(Lease(task_id, token), result)]))

    def fail(
        self, task_id: str, token: int, error: str, traceback: str = "", retry: bool = True
    ) -> bool:
        """Record a failed attempt; it is retried per the task's policy unless `retry` is False."""
        task = self.get(task_id)
        entry = AttemptError(
            attempt=task.attempts,
            error=error,
            traceback=traceback,
            at=datetime.now(UTC).isoformat(),
            worker_id=task.worker_id or "",
        )
        delay = retry_delay(task.retry, task.attempts) if retry else None
        return bool(self.store.fail([Failure(Lease(task_id, token), entry, delay)]))


@functools.lru_cache(maxsize=1024)
def _unknown_here(name: str) -> TaskDefinition:
    """The defaults of a task this process does not know (the HTTP API's tasks, mostly),
    made once per name: a definition is immutable, and building one per enqueued task
    cost a tenth of a batch submit's CPU. Bounded, as names come from clients."""
    return TaskDefinition(name=name, fn=_not_here)


def _checked(new: NewTask) -> NewTask:
    """Check what the store does not: the store checks the arguments as it encodes them."""
    if not new.queue:
        raise ConfigurationError(f"task {new.name!r}: queue name must not be empty")
    payload.check_idempotency_key(new.name, new.idempotency_key)
    if new.run_at is not None and new.run_at.tzinfo is None:
        raise ConfigurationError(
            f"task {new.name!r}: run_at {new.run_at.isoformat()} has no timezone; "
            "pass an aware datetime such as datetime.now(UTC)"
        )
    return new


def _status(value: str | Status) -> Status:
    try:
        return Status(value)
    except ValueError:
        known = ", ".join(s.value for s in Status)
        raise ConfigurationError(f"status {value!r} is not one of {known}") from None


def _retry_policy(
    max_attempts: int | None,
    min_backoff: float | None,
    max_backoff: float | None,
    max_doublings: int | None,
) -> RetryPolicy | None:
    """The task's own policy when it sets any retry option; None defers to the queue."""
    given = (max_attempts, min_backoff, max_backoff, max_doublings)
    if all(v is None for v in given):
        return None
    defaults = RetryPolicy()
    max_attempts = defaults.max_attempts if max_attempts is None else max_attempts
    min_backoff = defaults.min_backoff if min_backoff is None else min_backoff
    max_backoff = defaults.max_backoff if max_backoff is None else max_backoff
    max_doublings = defaults.max_doublings if max_doublings is None else max_doublings
    if max_attempts < 1:
        raise ConfigurationError(f"max_attempts must be at least 1, not {max_attempts}")
    if min_backoff < 0 or max_backoff < min_backoff:
        raise ConfigurationError(
            f"backoff must satisfy 0 <= min_backoff <= max_backoff "
            f"(got {min_backoff} and {max_backoff})"
        )
    if max_doublings < 0:
        raise ConfigurationError(f"max_doublings must not be negative, not {max_doublings}")
    return RetryPolicy(max_attempts, float(min_backoff), float(max_backoff), max_doublings)


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and timeout <= 0:
        raise ConfigurationError(f"timeout must be a positive number of seconds, not {timeout}")


def _not_here(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("a task enqueued by name runs on a worker that registered it")


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A schedule and its next run, for `conveyor schedules list` and the HTTP API."""

    schedule: Schedule
    next_run: datetime
    stored: bool = False
    """True for a schedule kept in the store (queue file, HTTP), False for one in code."""


def _misfire(value: str | Misfire) -> Misfire:
    try:
        return Misfire(value)
    except ValueError:
        raise ConfigurationError(f"misfire {value!r} is not one of 'once', 'skip'") from None


def _fire_rule(cron: str | None, every: float | timedelta | None, timezone: str) -> FireRule:
    if (cron is None) == (every is None):
        raise ConfigurationError(
            "periodic takes exactly one of cron='*/5 * * * *' or every=SECONDS"
        )
    if cron is not None:
        return CronRule(cron, timezone)
    assert every is not None
    seconds = every.total_seconds() if isinstance(every, timedelta) else float(every)
    try:
        return Every(seconds)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
