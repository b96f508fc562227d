"""The metric families, built from one snapshot of the store. Pure: no I/O here.

| metric (labels) | type: meaning |
|---|---|
| conveyor_up | gauge: 1 when the store answered this scrape |
| conveyor_tasks (queue, state) | gauge: tasks stored, scheduled split from queued |
| conveyor_queue_depth (queue) | gauge: tasks due now, waiting for a worker |
| conveyor_queue_oldest_queued_age_seconds (queue) | gauge: the oldest due task's wait |
| conveyor_queue_paused (queue) | gauge: 1 when paused |
| conveyor_tasks_enqueued_total (queue) | counter: tasks enqueued |
| conveyor_tasks_completed_total (queue) | counter: tasks completed |
| conveyor_tasks_failed_total (queue) | counter: tasks failed for good (dead letters) |
| conveyor_tasks_retried_total (queue) | counter: failed attempts followed by another |
| conveyor_claims_throttled_total (queue) | counter: claims a rate/concurrency limit cut short |
| conveyor_task_processing_seconds (queue, status) | gauge histogram: see below |
| conveyor_workers (state) | gauge: registered workers, alive, dead or stopped |
| conveyor_queue_workers (queue) | gauge: alive workers consuming the queue |

Counters only grow because the store tallies tasks that leave its table (see migration
0007). The processing-time histogram is the last attempt's run time of the tasks that
finished within a sliding window (five minutes by default), so it is a gauge histogram:
it can shrink, and `histogram_quantile` over its buckets gives the recent percentiles
directly, without `rate()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
)
from prometheus_client.metrics_core import Metric

from conveyor.app import QueueInfo
from conveyor.core.tallies import ProcessingTimes, QueueTotals
from conveyor.core.workers import WorkerInfo, WorkerState

DEFAULT_WINDOW_SECONDS = 300.0
DEFAULT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True, slots=True)
class Snapshot:
    queues: Sequence[QueueInfo]
    totals: Sequence[QueueTotals]
    times: Sequence[ProcessingTimes]
    workers: Sequence[WorkerInfo]


def up(value: bool) -> Metric:
    return GaugeMetricFamily("conveyor_up", "1 when the store answered this scrape.", int(value))


def families(snapshot: Snapshot) -> list[Metric]:
    return [
        up(True),
        *queue_gauges(snapshot.queues),
        *counters(snapshot.totals),
        processing(snapshot.times),
        *worker_gauges(snapshot.workers),
    ]


def queue_gauges(queues: Sequence[QueueInfo]) -> list[Metric]:
    tasks = GaugeMetricFamily(
        "conveyor_tasks", "Tasks stored, by queue and state.", labels=["queue", "state"]
    )
    depth = GaugeMetricFamily(
        "conveyor_queue_depth", "Tasks due now and waiting for a worker.", labels=["queue"]
    )
    age = GaugeMetricFamily(
        "conveyor_queue_oldest_queued_age_seconds",
        "How long the oldest due task has waited; 0 when none waits.",
        labels=["queue"],
    )
    paused = GaugeMetricFamily(
        "conveyor_queue_paused", "1 when the queue is paused.", labels=["queue"]
    )
    for queue in queues:
        for state, count in queue.counts.items():
            tasks.add_metric([queue.name, state], count)
        depth.add_metric([queue.name], queue.counts.get("queued", 0))
        age.add_metric([queue.name], queue.oldest_queued_age or 0.0)
        paused.add_metric([queue.name], int(queue.paused))
    return [tasks, depth, age, paused]


def counters(totals: Sequence[QueueTotals]) -> list[Metric]:
    made = {
        name: CounterMetricFamily(f"conveyor_tasks_{name}", help_text, labels=["queue"])
        for name, help_text in (
            ("enqueued", "Tasks enqueued."),
            ("completed", "Tasks completed."),
            ("failed", "Tasks that failed for good (dead letters)."),
            ("retried", "Failed attempts that were followed by another attempt."),
        )
    }
    for total in totals:
        made["enqueued"].add_metric([total.queue], total.enqueued)
        made["completed"].add_metric([total.queue], total.completed)
        made["failed"].add_metric([total.queue], total.failed)
        made["retried"].add_metric([total.queue], total.retried)
    limited = CounterMetricFamily(
        "conveyor_claims_throttled",
        "Claims that a queue's rate or concurrency limit cut short while tasks were due.",
        labels=["queue"],
    )
    for total in totals:
        limited.add_metric([total.queue], total.throttled_claims)
    return [*made.values(), limited]


def processing(times: Sequence[ProcessingTimes]) -> Metric:
    family = GaugeHistogramMetricFamily(
        "conveyor_task_processing_seconds",
        "Run time of the last attempt of tasks that finished within the recent window.",
        labels=["queue", "status"],
    )
    for entry in times:
        buckets = [(_bound(le), n) for le, n in entry.buckets]
        buckets.append(("+Inf", entry.count))
        family.add_metric([entry.queue, entry.status], buckets, entry.total_seconds)
    return family


def worker_gauges(workers: Sequence[WorkerInfo]) -> list[Metric]:
    by_state = GaugeMetricFamily(
        "conveyor_workers", "Registered workers, by state.", labels=["state"]
    )
    for state in WorkerState:
        by_state.add_metric([state.value], sum(1 for w in workers if w.state is state))
    per_queue = GaugeMetricFamily(
        "conveyor_queue_workers", "Alive workers that consume the queue.", labels=["queue"]
    )
    alive = [w for w in workers if w.alive]
    for queue in sorted({q for w in alive for q in w.queues}):
        per_queue.add_metric([queue], sum(1 for w in alive if queue in w.queues))
    return [by_state, per_queue]


def _bound(le: float) -> str:
    return repr(float(le))
