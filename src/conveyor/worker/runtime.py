"""Worker: the claim loop, its slots, and the two-phase stop.

```
            ┌───────────── slot freed ◄────────────── outcome written ◄─┐
            ▼                                                           │
 claim(free slots) ──> attempt (executor) ──> outcome queue ──> flusher ┘ (batched)
            │ nothing due                          ▲
            ▼                                      │ lease lost → attempt cancelled
 wait_for_work (NOTIFY / data_version)     heartbeat (every lease/3)
```

A worker claims its free slots, plus what it will start within `AHEAD_SECONDS` at its
recent rate (`Pace`). A queue of quick tasks is thus claimed in batches of up to
`MAX_AHEAD` beyond the slots, while a task never waits in one worker's buffer for longer
than that as another worker idles: with long tasks the rate is low and a worker claims
only its free slots. Buffered tasks hold leases like running ones (the heartbeat extends
them, `stop` releases them at once).

A slot is freed when its handler returns, so the next task starts, and the next claim
overlaps the acknowledgement of the last batch instead of waiting for it; the attempt
stays in flight (its lease extended, `stop` waiting for it) until its outcome is in the
store. A worker holds at most `2 * concurrency + MAX_AHEAD` leases: while outcomes wait
for a slow or absent store, it stops claiming.

Stop: the first signal stops claiming and lets attempts in flight finish within the grace
period; what is left is cancelled and released so other workers take it at once. A second
signal skips the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from conveyor.core.cron import Schedule
from conveyor.core.redaction import mask_text, secret_values
from conveyor.core.task import Claimed, Completion, Failure, Lease
from conveyor.scheduler.cron import Cron
from conveyor.scheduler.duties import Duty, Pruner, Reaper, run_duty
from conveyor.store.aio import AsyncStore
from conveyor.store.base import Store
from conveyor.tasks import Registry
from conveyor.worker import signals
from conveyor.worker.config import WorkerConfig
from conveyor.worker.executor import Attempt, Executor, HandlerExecutor, Outcome
from conveyor.worker.presence import Presence

log = logging.getLogger("conveyor.worker")

IDLE_WAIT_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 5.0
AHEAD_SECONDS = 0.05
"""Claim beyond the free slots what this worker starts in this long at its recent rate."""
MAX_AHEAD = 1000
"""At most this many tasks wait in a worker's buffer."""


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(slots=True)
class InFlight:
    claimed: Claimed
    attempt: asyncio.Task[None] | Attempt | None = None
    """None while the task waits in the buffer for a slot: then the task running the
    attempt, or for a sync handler its `Attempt`."""
    lost: bool = False


@dataclass(slots=True)
class Pace:
    """Tasks started per second, measured over windows of `window` seconds, or sooner
    once `enough` tasks have started and `shortest` has passed: a worker that starts
    with a backlog of short tasks reaches its claiming pace in milliseconds, not after a
    whole window of claims the size of its free slots."""

    window: float = 0.05
    enough: int = 50
    shortest: float = 0.005
    rate: float = 0.0
    started: int = 0
    _since: float = field(default_factory=time.monotonic)
    _counted: int = 0

    def ahead(self, limit: int) -> int:
        """How many tasks to claim beyond the free slots: `AHEAD_SECONDS` of work."""
        now = time.monotonic()
        elapsed = now - self._since
        if elapsed >= self.window or (
            elapsed >= self.shortest and self.started - self._counted >= self.enough
        ):
            self.rate = (self.started - self._counted) / elapsed
            self._since, self._counted = now, self.started
        return min(limit, int(self.rate * AHEAD_SECONDS))


@dataclass(slots=True)
class Backoff:
    """Exponential backoff for reconnecting to a store that went away."""

    first: float = 0.1
    current: float = field(default=0.0)

    def next(self) -> float:
        self.current = min(MAX_BACKOFF_SECONDS, self.current * 2 if self.current else self.first)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class Worker:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        queues: Sequence[str],
        config: WorkerConfig | None = None,
        *,
        worker_id: str | None = None,
        executor: Executor | None = None,
        duties: Sequence[Duty] | None = None,
    ) -> None:
        self.config = config or WorkerConfig()
        self.queues = list(queues)
        self.worker_id = worker_id or new_worker_id()
        self.astore = AsyncStore(store, threads=4)
        self.store = store
        self._handlers = HandlerExecutor(registry, self.worker_id, self.config.concurrency * 2)
        self.executor: Executor = executor or self._handlers
        self.duties: list[Duty] = (
            list(duties)
            if duties is not None
            else default_duties(self.config, registry.schedules())
        )
        self.presence = Presence(
            self.astore,
            self.worker_id,
            self.queues,
            self.config.concurrency,
            heartbeat_seconds=self.config.lease_seconds / 3,
        )
        self._inflight: dict[str, InFlight] = {}
        self._ready: deque[InFlight] = deque()
        """Claimed tasks waiting for a slot, in claim order."""
        self._running = 0
        self._pace = Pace()
        self._max_ahead = MAX_AHEAD if self.config.claim_ahead else 0
        self._max_held = 2 * self.config.concurrency + self._max_ahead
        self._acking: set[str] = set()
        """Attempts in flight whose handler has returned: their outcome awaits the store."""
        self._outcomes: asyncio.Queue[Outcome] = asyncio.Queue()
        self._slot_free = asyncio.Event()
        """Set when the claim loop may have work: a slot freed while the buffer ran low, an
        outcome written, or stop."""
        self._low_water = 0
        """The buffer length at or below which a returning handler wakes the claim loop."""
        self._store_away = False
        """Set while outcomes fail to reach the store: no buffered task starts meanwhile."""
        self._retry_queued = asyncio.Event()
        self._stopping = asyncio.Event()
        self._killed = asyncio.Event()
        self._secret_fields: dict[str, tuple[str, ...]] = {}
        """Each queue's secret payload keys, masked in log lines; refreshed every beat."""
        self.processed = 0

    # -- control -----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; let attempts in flight finish within the grace period."""
        if not self._stopping.is_set():
            log.info("worker %s stopping: draining %d task(s)", self.worker_id, len(self._inflight))
        self._stopping.set()
        self._slot_free.set()

    def kill(self) -> None:
        """Stop now: cancel what runs and release it."""
        log.warning("worker %s stopping now", self.worker_id)
        self._stopping.set()
        self._slot_free.set()
        self._killed.set()

    async def run(self, *, handle_signals: bool = False) -> None:
        loop = asyncio.get_running_loop()
        if handle_signals:
            signals.install(loop, self.stop, self.kill)
        log.info(
            "worker %s started: queues=%s concurrency=%d store=%s loop=%s",
            self.worker_id,
            ",".join(self.queues),
            self.config.concurrency,
            _safe(self.store.url),
            type(loop).__module__.partition(".")[0],
        )
        background = [
            asyncio.create_task(self._flush_loop(), name="conveyor-flush"),
            asyncio.create_task(self._heartbeat_loop(), name="conveyor-heartbeat"),
            *(
                asyncio.create_task(run_duty(self.astore, d, self.worker_id, self._stopping))
                for d in self.duties
            ),
        ]
        try:
            await self._claim_loop()
            await self._drain()
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self.presence.leave()
            self._handlers.close()
            self.astore.close()
            if handle_signals:
                signals.uninstall(loop)
            log.info("worker %s stopped after %d task(s)", self.worker_id, self.processed)

    # -- claiming ------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        backoff = Backoff()
        while not self._stopping.is_set():
            self._start_ready()
            wanted = self._wanted()
            if wanted <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            try:
                self._retry_queued.clear()
                claimed = await self.astore.run(
                    self.store.claim, self.queues, wanted, self.worker_id, self.config.lease_seconds
                )
                self._store_away = False
                for one in claimed:
                    self._hold(one)
                self._start_ready()
                if len(claimed) < wanted:
                    await self._idle()
                backoff.reset()
            except Exception as exc:
                # Not `_store_away`: only the flusher sets it, because only the flusher
                # keeps retrying until the store answers (this loop may sleep on a
                # buffer it cannot start from, and would never clear it).
                delay = backoff.next()
                log.error("store unavailable while claiming (%s); retrying in %.1fs", exc, delay)
                await _first(self._stopping.wait(), timeout=delay)

    def _wanted(self) -> int:
        """Free slots and the claim-ahead allowance, less what the buffer holds; and never
        more leases than `2 * concurrency + MAX_AHEAD` in all, so outcomes waiting for a
        slow or absent store stop the claims."""
        ahead = self._pace.ahead(self._max_ahead)
        # Top the buffer up once it is half empty, not after every task, so claims come
        # in batches.
        self._low_water = ahead // 2
        buffered = len(self._ready)
        if buffered and buffered > self._low_water:
            return 0
        free = self.config.concurrency - self._running
        wanted = free + ahead - buffered
        return min(wanted, self._max_held - len(self._inflight))

    async def _idle(self) -> None:
        """Nothing (more) is due: sleep until new work is announced or a delayed task is due."""
        due = await self.astore.run(self.store.seconds_until_due, self.queues)
        timeout = IDLE_WAIT_SECONDS if due is None else min(IDLE_WAIT_SECONDS, due)
        if timeout <= 0:
            # Due tasks exist but another worker holds their row locks right now.
            await asyncio.sleep(0.005)
            return
        # A retry this worker just scheduled announces itself to nobody (PostgreSQL only
        # notifies work that is due now), so the flusher wakes us to look at its run_at.
        await _first(
            self.astore.wait_for_work(self.queues, timeout),
            self._retry_queued.wait(),
            self._stopping.wait(),
        )

    def _hold(self, claimed: Claimed) -> None:
        entry = InFlight(claimed)
        self._inflight[claimed.task.id] = entry
        self._ready.append(entry)

    def _start_ready(self) -> None:
        """Start buffered tasks in the free slots."""
        if self._store_away:
            # Outcomes cannot be written: a task started now would likely run again once
            # its lease expires, so buffered tasks wait (their leases may lapse; then
            # they run elsewhere, once).
            return
        ready = self._ready
        while ready and self._running < self.config.concurrency and not self._stopping.is_set():
            entry = ready.popleft()
            if entry.lost or self._inflight.get(entry.claimed.task.id) is not entry:
                continue  # its lease was lost while it waited
            self._running += 1
            self._pace.started += 1
            claimed = entry.claimed
            if log.isEnabledFor(logging.DEBUG):
                log.debug("task started", extra=_task_fields(claimed))
            sync = (
                self._handlers.start(claimed, self._sync_returned)
                if self.executor is self._handlers
                else None
            )
            if sync is not None:
                entry.attempt = sync
            else:
                entry.attempt = asyncio.create_task(
                    self._attempt(claimed), name=f"conveyor-task-{claimed.task.id}"
                )

    async def _attempt(self, claimed: Claimed) -> None:
        try:
            outcome = await self.executor.execute(claimed)
        except asyncio.CancelledError:
            self._running -= 1
            return
        self._returned(claimed, outcome)

    def _sync_returned(self, attempt: Attempt) -> None:
        claimed = attempt.claimed
        outcome = self._handlers.outcome(claimed, attempt)
        if outcome is None:  # cancelled: lost lease or stop
            self._running -= 1
            return
        self._returned(claimed, outcome)

    def _returned(self, claimed: Claimed, outcome: Outcome) -> None:
        self._running -= 1
        entry = self._inflight.get(claimed.task.id)
        if entry is not None and not entry.lost:
            self._outcomes.put_nowait(outcome)
            self._acking.add(claimed.task.id)
            self._start_ready()
            if len(self._ready) <= self._low_water:
                self._slot_free.set()
        else:
            self._finish([claimed.task.id])

    def _finish(self, task_ids: Sequence[str]) -> None:
        for task_id in task_ids:
            self._inflight.pop(task_id, None)
            self._acking.discard(task_id)
        self._slot_free.set()

    # -- outcomes ------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            batch = [await self._outcomes.get()]
            while not self._outcomes.empty() and len(batch) < 500:
                batch.append(self._outcomes.get_nowait())
            await self._write(batch)
            self._finish([o.lease.task_id for o in batch])
            self.processed += len(batch)

    async def _write(self, batch: list[Outcome]) -> None:
        """Write outcomes, retrying while the store is away; a refusal means a lost lease."""
        completions = [o for o in batch if isinstance(o, Completion)]
        failures = [o for o in batch if isinstance(o, Failure)]
        backoff = Backoff()
        accepted: set[str] = set()
        while True:
            try:
                if completions:
                    accepted |= set(await self.astore.run(self.store.complete, completions))
                    completions = []  # written: a retry must not see them refused
                accepted |= set(await self.astore.run(self.store.fail, failures))
                break
            except Exception as exc:
                if self._killed.is_set():
                    return
                self._store_away = True
                delay = backoff.next()
                log.error(
                    "store unavailable while acknowledging (%s); retrying in %.1fs", exc, delay
                )
                await asyncio.sleep(delay)
        if self._store_away:
            self._store_away = False
            self._start_ready()
        if any(f.retry_delay is not None and f.lease.task_id in accepted for f in failures):
            self._retry_queued.set()
        if failures:  # only a failure's message is logged, so only it needs masking
            await self._know_secret_fields(failures)
        if failures or len(accepted) < len(batch) or log.isEnabledFor(logging.DEBUG):
            self._log_outcomes(batch, accepted)

    async def _know_secret_fields(self, failures: list[Failure]) -> None:
        """Read the secret fields of queues not seen yet, so a failure logged before the
        first beat is masked too; unmasked is never the fallback, "***" is."""
        for outcome in failures:
            entry = self._inflight.get(outcome.lease.task_id)
            queue = entry.claimed.task.queue if entry else None
            if queue is None or queue in self._secret_fields:
                continue
            try:
                settings = await self.astore.run(self.store.get_queue, queue)
            except Exception:
                continue  # _masked_error hides the whole message instead
            self._secret_fields[queue] = settings.secret_fields

    def _masked_error(self, claimed: Claimed | None, error: str) -> str:
        withheld = "(error text withheld: the queue's secret fields are unknown)"
        if claimed is None:
            return withheld if any(self._secret_fields.values()) else error
        secret = self._secret_fields.get(claimed.task.queue)
        if secret is None:
            return withheld
        return mask_text(error, secret_values(claimed.task, secret))

    def _log_outcomes(self, batch: list[Outcome], accepted: set[str]) -> None:
        debug = log.isEnabledFor(logging.DEBUG)
        for outcome in batch:
            if not debug and isinstance(outcome, Completion) and outcome.lease.task_id in accepted:
                continue  # would only log at debug level
            entry = self._inflight.get(outcome.lease.task_id)
            fields = _task_fields(entry.claimed) if entry else {}
            if outcome.lease.task_id not in accepted:
                log.warning(
                    "outcome refused: the lease was lost (reaped or cancelled)", extra=fields
                )
            elif isinstance(outcome, Completion):
                log.debug("task completed", extra=fields)
            elif isinstance(outcome, Failure):
                final = outcome.retry_delay is None
                log.warning(
                    "task failed%s: %s",
                    " for good" if final else f", retrying in {outcome.retry_delay:.1f}s",
                    self._masked_error(entry.claimed if entry else None, outcome.error.error),
                    extra=fields,
                )

    # -- leases --------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        """Beat the registry, then extend leases, every third of the shortest lease; the
        registry is told a beat every `lease_seconds / 3`, which this never exceeds."""
        shortest: float | None = None
        while True:
            try:
                await self.presence.beat(len(self._inflight))
            except Exception as exc:
                log.error("store unavailable while reporting this worker alive (%s)", exc)
            if shortest is None:
                shortest = await self._shortest_queue_lease()
            span = self.config.lease_seconds if shortest is None else shortest
            await asyncio.sleep(min([span, *self._lease_spans()]) / 3)
            leases = [e.claimed.lease for e in self._inflight.values()]
            if not leases:
                continue
            try:
                held = set(
                    await self.astore.run(self.store.heartbeat, leases, self.config.lease_seconds)
                )
            except Exception as exc:
                log.error("store unavailable while extending leases (%s)", exc)
                continue
            self._drop_lost([lease for lease in leases if lease.task_id not in held])

    async def _shortest_queue_lease(self) -> float | None:
        """The shortest lease our queues set, or None while the store cannot say.

        Asked again on the next beat when the store is away: this loop must outlive an
        outage, or every lease in flight would expire.
        """
        try:
            settings = [await self.astore.run(self.store.get_queue, q) for q in self.queues]
        except Exception as exc:
            log.error("store unavailable while reading queue settings (%s)", exc)
            return None
        self._secret_fields.update((s.name, s.secret_fields) for s in settings)
        spans = [s.lease_seconds for s in settings if s.lease_seconds is not None]
        return min([self.config.lease_seconds, *spans])

    def _lease_spans(self) -> list[float]:
        """Lease lengths of the attempts in flight; a queue may set a shorter one."""
        spans = []
        for entry in self._inflight.values():
            task = entry.claimed.task
            if task.lease_expires_at is not None and task.started_at is not None:
                spans.append((task.lease_expires_at - task.started_at).total_seconds())
        return spans

    def _drop_lost(self, lost: Sequence[Lease]) -> None:
        for lease in lost:
            entry = self._inflight.get(lease.task_id)
            if entry is None or entry.claimed.lease != lease:
                continue
            if entry.attempt is not None and entry.attempt.done():
                continue
            entry.lost = True
            if entry.attempt is not None:
                entry.attempt.cancel()
            log.warning(
                "lease lost (cancelled or reaped); attempt stopped",
                extra=_task_fields(entry.claimed),
            )
            self._finish([lease.task_id])

    # -- stopping ------------------------------------------------------------------------

    async def _drain(self) -> None:
        await self._release([e for e in self._ready if not e.lost], "waiting")
        self._ready.clear()
        if self._inflight and not self._killed.is_set():
            await _first(self._all_done(), self._killed.wait(), timeout=self.config.grace_seconds)
        leftover = [e for e in self._inflight.values() if e.attempt is None or not e.attempt.done()]
        for entry in leftover:
            entry.lost = True
            if entry.attempt is not None:
                entry.attempt.cancel()
        await self._release(leftover, "unfinished")
        await _first(self._all_done(), self._killed.wait(), timeout=self.config.grace_seconds)

    async def _release(self, entries: Sequence[InFlight], what: str) -> None:
        """Give tasks back unrun, so other workers take them at once."""
        if not entries:
            return
        for entry in entries:
            entry.lost = True
        leases = [e.claimed.lease for e in entries]
        try:
            released = await self.astore.run(self.store.release, leases)
            log.info("released %d %s task(s) for other workers", len(released), what)
        except Exception as exc:
            log.error(
                "could not release %d task(s) (%s); their leases will expire", len(leases), exc
            )
        self._finish([lease.task_id for lease in leases])

    async def _all_done(self) -> None:
        while self._inflight:
            self._slot_free.clear()
            await self._slot_free.wait()


def default_duties(config: WorkerConfig, schedules: Sequence[Schedule] = ()) -> list[Duty]:
    """Cron (the app's schedules and those stored), reaper and pruner."""
    return [
        Cron(tuple(schedules)),
        Reaper(interval=config.reap_interval),
        Pruner(
            interval=config.prune_interval,
            completed_retention=config.completed_retention,
            failed_retention=config.failed_retention,
        ),
    ]


async def _first(*aws: object, timeout: float | None = None) -> None:
    """Wait until the first of several awaitables finishes (or the timeout); cancel the rest."""
    tasks = [asyncio.ensure_future(a) for a in aws]  # type: ignore[call-overload]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _task_fields(claimed: Claimed) -> dict[str, object]:
    task = claimed.task
    return {
        "task_id": task.id,
        "task_name": task.name,
        "queue": task.queue,
        "attempt": task.attempts,
    }


def _safe(url: str) -> str:
    """The URL without its password, for logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"
