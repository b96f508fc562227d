"""Batches: `app.map(task, items)` enqueues one task per item and returns a `BatchHandle`.

A batch is enqueued chunk by chunk, each chunk one store transaction, while the items
are consumed lazily: a generator of a million items never sits in memory at once. The
handle keeps the member ids packed as 16-byte UUIDs (16 MB per million members), not
one `TaskHandle` per member; progress and results are read back from the store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from itertools import islice
from typing import Any, Protocol

from conveyor.core.task import JSONValue, NewTask, Status, Task
from conveyor.errors import ConfigurationError, TaskFailed
from conveyor.tasks import TaskDefinition, TaskOptions, _outcome, _poll_delays

ProgressCallback = Callable[[int], None]
"""Called after each chunk is stored, with the number of members enqueued so far."""

_ID_SIZE = 16


class BatchReader(Protocol):
    """What a BatchHandle needs of its Conveyor."""

    def get(self, task_id: str) -> Task: ...

    def workflow_counts(self, workflow_id: str) -> dict[str, int]: ...


EnqueueChunk = Callable[[Sequence[NewTask]], list[str]]
"""Checks and stores one chunk in one transaction; returns the ids in order."""


def arguments(item: Any) -> tuple[list[Any], dict[str, Any]]:
    """The (args, kwargs) of one item: a tuple or list is the positional arguments, a
    mapping the keyword arguments, anything else the single positional argument.

    A task taking one list argument therefore needs its item wrapped: `([1, 2],)`.
    """
    if isinstance(item, tuple | list):
        return list(item), {}
    if isinstance(item, Mapping):
        return [], dict(item)
    return [item], {}


def enqueue_batch(
    reader: BatchReader,
    enqueue_chunk: EnqueueChunk,
    definition: TaskDefinition,
    items: Iterable[Any],
    options: TaskOptions,
    chunk_size: int = 1000,
    on_progress: ProgressCallback | None = None,
) -> BatchHandle:
    """Enqueue one task per item, `chunk_size` per transaction; see `Conveyor.map`."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigurationError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    key = options.idempotency_key
    batch_id = str(uuid.uuid4())
    packed = bytearray()
    count = 0
    it = iter(items)
    while True:
        chunk = list(islice(it, chunk_size))
        if not chunk:
            break
        news = []
        for offset, item in enumerate(chunk):
            args, kwargs = arguments(item)
            new = definition.new_task(args, kwargs, options)
            new = replace(
                new,
                workflow_id=batch_id,
                idempotency_key=None if key is None else f"{key}:{count + offset}",
            )
            news.append(new)
        try:
            ids = enqueue_chunk(news)
        except Exception as exc:
            exc.add_note(f"batch: the {count} task(s) of earlier chunks stay enqueued")
            raise
        for task_id in ids:
            packed += uuid.UUID(task_id).bytes
        count += len(ids)
        if on_progress is not None:
            on_progress(count)
    return BatchHandle(reader, bytes(packed), batch_id)


class BatchHandle:
    """The receipt of `app.map`: the member ids in item order, progress and results.

    >>> batch = app.map(add, [(1, 2), (3, 4)])  # doctest: +SKIP
    >>> batch.progress()                         # doctest: +SKIP
    (0, 0, 2)
    >>> batch.wait(timeout=10)                   # doctest: +SKIP
    [3, 7]
    """

    def __init__(self, reader: BatchReader, packed_ids: bytes, batch_id: str | None = None) -> None:
        if len(packed_ids) % _ID_SIZE:
            raise ValueError("packed ids must be a whole number of 16-byte UUIDs")
        self._reader = reader
        self._ids = packed_ids
        self.id = batch_id or str(uuid.uuid4())
        """The batch's workflow id: its members carry it, so progress is one query."""

    def __repr__(self) -> str:
        return f"BatchHandle(id={self.id!r}, total={len(self)})"

    def __len__(self) -> int:
        return len(self._ids) // _ID_SIZE

    def task_id(self, index: int) -> str:
        """The id of the member enqueued for item `index`."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"batch has {len(self)} member(s), no index {index}")
        start = (index % len(self)) * _ID_SIZE
        return str(uuid.UUID(bytes=self._ids[start : start + _ID_SIZE]))

    def task_ids(self) -> Iterator[str]:
        """Member ids in item order, unpacked one at a time."""
        for start in range(0, len(self._ids), _ID_SIZE):
            yield str(uuid.UUID(bytes=self._ids[start : start + _ID_SIZE]))

    def progress(self) -> tuple[int, int, int]:
        """(done, failed, total): done counts completed members, failed those failed for
        good or cancelled; the rest are still waiting, queued or running. One query,
        counting the members by state (members already pruned count as neither).
        """
        counts = self._reader.workflow_counts(self.id)
        failed = counts.get(Status.FAILED.value, 0) + counts.get(Status.CANCELLED.value, 0)
        return counts.get(Status.COMPLETED.value, 0), failed, len(self)

    def wait(
        self, timeout: float | None = None, poll: float = 0.05, return_exceptions: bool = False
    ) -> list[JSONValue | TaskFailed]:
        """Block until every member finishes; return their results in item order.

        A member that failed or was cancelled raises its `TaskFailed` (`TaskCancelled`),
        naming it, once the members before it have finished; with
        `return_exceptions=True` the exception takes its place in the list instead.
        `timeout` bounds the whole wait and raises `TimeoutError`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        results: list[JSONValue | TaskFailed] = []
        for index, task_id in enumerate(self.task_ids()):
            task = self._finished(task_id, deadline, timeout, poll)
            try:
                results.append(_outcome(task))
            except TaskFailed as exc:
                if not return_exceptions:
                    exc.add_note(f"batch {self.id}: member {index} of {len(self)}")
                    raise
                results.append(exc)
        return results

    def _finished(
        self, task_id: str, deadline: float | None, timeout: float | None, poll: float
    ) -> Task:
        for delay in _poll_delays(poll):
            task = self._reader.get(task_id)
            if task.status.finished:
                return task
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"batch {self.id}: not finished within {timeout} seconds "
                    f"(waiting on task {task_id})"
                )
            time.sleep(
                delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic()))
            )
        raise AssertionError("unreachable")  # pragma: no cover
