"""Group commit: enqueues that arrive while another is being written share one transaction.

Alone, each enqueue pays a whole transaction: on PostgreSQL a round trip and a commit's
WAL flush, on SQLite a commit's page writes. When several threads enqueue at once (a web
application's request threads, the HTTP API's store threads), the first to find no write
in flight writes its tasks at once; those that come meanwhile queue up, and when that
write ends, the first of them writes everything that queued, in one transaction. Nobody
waits on a timer: a lone producer writes at once, as before, and under load each write
carries what arrived during the previous one.

Each caller still returns only once its own tasks are committed, with the receipts of
its own tasks. A combined write that fails for what may be one task's fault (a NUL
character, a value the database refuses) is retried request by request, so a bad task
fails only its own request; a store that is unavailable fails them all, as it would
have one by one.

Only batches that cannot interact are combined (`combinable`): no idempotency keys
(whose clashes are looked up per request) and no workflow edges.

`Combiner` combines the calls of threads; `aio.AsyncStore.enqueue` combines the calls of
coroutines on one event loop (the HTTP API's requests) the same way, with `take` and
`settle`, and hands each combined batch to the store in one call.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections import deque
from collections.abc import Callable, Sequence

from conveyor.core.task import NewTask
from conveyor.errors import StoreUnavailable
from conveyor.store.base import Enqueued

MOST_TASKS = 1000
"""Tasks one combined write takes at most (a request larger than this goes alone)."""

Write = Callable[[Sequence[NewTask]], list[Enqueued]]


def combinable(tasks: Sequence[NewTask]) -> bool:
    return all(t.idempotency_key is None and not t.parents for t in tasks)


class Request:
    """One caller's batch, and its outcome once `settle` has written it."""

    __slots__ = ("error", "receipts", "settled", "tasks", "woken", "written")

    def __init__(self, tasks: Sequence[NewTask]) -> None:
        self.tasks = tasks
        self.receipts: list[Enqueued] = []
        self.error: BaseException | None = None
        self.settled = False
        self.woken: threading.Event | None = None
        """Only a request that queued behind a write waits: for its outcome, or for its
        turn to write (woken, not settled)."""
        self.written: asyncio.Event | None = None
        """Set on the event loop once an asyncio caller's request is settled (aio)."""


class Combiner:
    """Writes concurrent enqueues of `combinable` batches together through `write`,
    which stores a batch in one transaction and returns its receipts in order."""

    def __init__(self, write: Write, most: int = MOST_TASKS) -> None:
        self._write = write
        self._most = most
        self._lock = threading.Lock()
        self._queued: deque[Request] = deque()
        self._writing = False
        """While True, a thread is writing or about to: whoever queues waits. Whenever
        it is False the queue is empty."""

    def enqueue(self, tasks: Sequence[NewTask]) -> list[Enqueued]:
        with self._lock:
            if self._writing:
                request = Request(tasks)
                request.woken = woken = threading.Event()
                self._queued.append(request)
            else:
                self._writing = True
                request = None
        if request is None:
            # Nobody is writing: write at once, as if there were no combiner.
            try:
                return self._write(tasks)
            finally:
                self._hand_on()
        woken.wait()
        if not request.settled:
            # Our turn: we are at the head of the queue (nobody takes from it but the
            # writer, and only appends happen behind us).
            self._write_queued()
        if request.error is not None:
            raise request.error
        return request.receipts

    def _write_queued(self) -> None:
        with self._lock:
            batch = take(self._queued, self._most)
        try:
            settle(self._write, batch)
        finally:
            for request in batch:
                if not request.settled:  # the writer was interrupted mid-write
                    request.error = interrupted()
                    request.settled = True
                if request.woken is not None:
                    request.woken.set()
            self._hand_on()

    def _hand_on(self) -> None:
        """After a write: the first request that queued meanwhile writes next."""
        with self._lock:
            following = self._queued[0] if self._queued else None
            if following is None:
                self._writing = False
        if following is not None and following.woken is not None:
            following.woken.set()  # settled is False: it writes next


def take(queued: deque[Request], most: int) -> list[Request]:
    """The requests at the head of the queue whose tasks add up to at most `most`, and
    always the first, however large."""
    batch = [queued.popleft()]
    size = len(batch[0].tasks)
    while queued and size + len(queued[0].tasks) <= most:
        request = queued.popleft()
        batch.append(request)
        size += len(request.tasks)
    return batch


def settle(write: Write, batch: Sequence[Request]) -> None:
    """Write the requests' tasks in one call of `write`, and give each request its
    receipts or its error. Only an interrupt (a BaseException raised through here) can
    leave a request unsettled."""
    if len(batch) == 1:
        _settle_alone(write, batch[0])
        return
    try:
        receipts = write([task for request in batch for task in request.tasks])
    except StoreUnavailable as exc:
        for request in batch:
            request.error = _own(exc)
            request.settled = True
        return
    except Exception:
        # Perhaps one request's fault: each gets its own answer.
        for request in batch:
            _settle_alone(write, request)
        return
    start = 0
    for request in batch:
        end = start + len(request.tasks)
        request.receipts = receipts[start:end]
        request.settled = True
        start = end


def _settle_alone(write: Write, request: Request) -> None:
    try:
        request.receipts = write(request.tasks)
    except Exception as exc:
        request.error = exc
    request.settled = True


def interrupted() -> StoreUnavailable:
    return StoreUnavailable(
        "the write carrying this enqueue was interrupted; its tasks may or may not be stored"
    )


def _own(exc: BaseException) -> BaseException:
    """A copy for one waiting thread to raise: threads raising one exception object
    at once would splice their tracebacks into it."""
    mine = copy.copy(exc)
    mine.__cause__ = exc.__cause__
    return mine
