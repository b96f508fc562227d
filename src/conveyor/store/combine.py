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
"""

from __future__ import annotations

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


class _Request:
    __slots__ = ("error", "receipts", "settled", "tasks", "woken")

    def __init__(self, tasks: Sequence[NewTask]) -> None:
        self.tasks = tasks
        self.receipts: list[Enqueued] = []
        self.error: BaseException | None = None
        self.settled = False
        self.woken: threading.Event | None = None
        """Only a request that queued behind a write waits: for its outcome, or for its
        turn to write (woken, not settled)."""


class Combiner:
    """Writes concurrent enqueues of `combinable` batches together through `write`,
    which stores a batch in one transaction and returns its receipts in order."""

    def __init__(self, write: Write, most: int = MOST_TASKS) -> None:
        self._write = write
        self._most = most
        self._lock = threading.Lock()
        self._queued: deque[_Request] = deque()
        self._writing = False
        """While True, a thread is writing or about to: whoever queues waits. Whenever
        it is False the queue is empty."""

    def enqueue(self, tasks: Sequence[NewTask]) -> list[Enqueued]:
        request = _Request(tasks)
        with self._lock:
            self._queued.append(request)
            if self._writing:
                request.woken = threading.Event()
            else:
                self._writing = True
        if request.woken is not None:
            request.woken.wait()
        if not request.settled:
            # Our turn: we are at the head of the queue (nobody takes from it but the
            # writer, and only appends happen behind us).
            self._write_queued()
        if request.error is not None:
            raise request.error
        return request.receipts

    def _write_queued(self) -> None:
        with self._lock:
            batch = [self._queued.popleft()]
            size = len(batch[0].tasks)
            while self._queued and size + len(self._queued[0].tasks) <= self._most:
                request = self._queued.popleft()
                batch.append(request)
                size += len(request.tasks)
        try:
            self._settle(batch)
        finally:
            for request in batch:
                if not request.settled:  # the writer was interrupted mid-write
                    request.error = StoreUnavailable(
                        "the write carrying this enqueue was interrupted; "
                        "its tasks may or may not be stored"
                    )
                    request.settled = True
            with self._lock:
                following = self._queued[0] if self._queued else None
                if following is None:
                    self._writing = False
            for request in batch:
                if request.woken is not None:
                    request.woken.set()
            if following is not None and following.woken is not None:
                following.woken.set()  # settled is False: it writes next

    def _settle(self, batch: list[_Request]) -> None:
        if len(batch) == 1:
            self._settle_alone(batch[0])
            return
        try:
            receipts = self._write([task for request in batch for task in request.tasks])
        except StoreUnavailable as exc:
            for request in batch:
                request.error = _own(exc)
                request.settled = True
            return
        except Exception:
            # Perhaps one request's fault: each gets its own answer.
            for request in batch:
                self._settle_alone(request)
            return
        start = 0
        for request in batch:
            end = start + len(request.tasks)
            request.receipts = receipts[start:end]
            request.settled = True
            start = end

    def _settle_alone(self, request: _Request) -> None:
        try:
            request.receipts = self._write(request.tasks)
        except Exception as exc:
            request.error = exc
        request.settled = True


def _own(exc: BaseException) -> BaseException:
    """A copy for one waiting thread to raise: threads raising one exception object
    at once would splice their tracebacks into it."""
    mine = copy.copy(exc)
    mine.__cause__ = exc.__cause__
    return mine
