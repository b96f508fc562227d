"""Workflows: `chain`, `group` and `chord`, stored as tasks that wait for their parents.

    chain(a.s(1), b.s(), c.s())      a, then b, then c; each gets the previous result first
    group([a.s(1), a.s(2)])          fan-out; the handle collects the results in order
    chord(group([...]), done.s())    fan-in: `done` runs once, with the list of results

Steps nest: a chain may hold groups (the step after a group gets the list of its
results) and a group may hold chains. `enqueue()` compiles the whole graph into tasks
with parents and stores it in one transaction, so a graph is stored whole or not at all;
from then on the store moves it forward (`conveyor.store.workflows`), whoever crashes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from conveyor.core.task import JSONValue, NewTask, PassResults, Status
from conveyor.errors import ConfigurationError, TaskFailed
from conveyor.tasks import Producer, Signature, TaskHandle


class WorkflowProducer(Producer, Protocol):
    """What a workflow needs of its Conveyor."""

    def submit_many(self, news: Sequence[NewTask], connection: Any = None) -> list[TaskHandle]: ...

    def workflow_counts(self, workflow_id: str) -> dict[str, int]: ...


@dataclass(frozen=True, slots=True)
class Chain:
    steps: tuple[Step, ...]

    def enqueue(self, app: WorkflowProducer | None = None, connection: Any = None) -> Workflow:
        """Store the chain; `wait()` on the handle gives the last step's result."""
        return _enqueue(self, app, connection)


@dataclass(frozen=True, slots=True)
class Group:
    members: tuple[Step, ...]

    def enqueue(self, app: WorkflowProducer | None = None, connection: Any = None) -> Workflow:
        """Store the group; `wait()` on the handle gives the members' results in order."""
        return _enqueue(self, app, connection)


@dataclass(frozen=True, slots=True)
class Chord:
    header: Group
    body: Step

    def enqueue(self, app: WorkflowProducer | None = None, connection: Any = None) -> Workflow:
        """Store the chord; `wait()` on the handle gives the callback's result."""
        return _enqueue(self, app, connection)


Step = Signature | Chain | Group | Chord


def chain(*steps: Step) -> Chain:
    """Steps that run one after another, each receiving the previous result first."""
    if not steps:
        raise ConfigurationError("chain() needs at least one step")
    return Chain(tuple(_checked(step, "chain") for step in steps))


def group(*members: Step | Iterable[Step]) -> Group:
    """Steps that run side by side: `group([a.s(1), a.s(2)])` or `group(a.s(1), a.s(2))`."""
    flat: list[Any] = []
    for member in members:
        if isinstance(member, Signature | Chain | Group | Chord):
            flat.append(member)
        else:
            flat.extend(member)
    return Group(tuple(_checked(member, "group") for member in flat))


def chord(header: Group | Iterable[Step], body: Step) -> Chord:
    """A group, then `body` once every member finished, with their results in order."""
    members = header if isinstance(header, Group) else group(list(header))
    return Chord(members, _checked(body, "chord callback"))


def _checked(step: Any, where: str) -> Step:
    if not isinstance(step, Signature | Chain | Group | Chord):
        raise ConfigurationError(
            f"{where} takes signatures (task.s(...)), chains, groups and chords, "
            f"not {type(step).__name__}: {step!r}"
        )
    return step


class Workflow:
    """The handle of a stored workflow: its id, its members, and its outcome."""

    def __init__(
        self,
        producer: WorkflowProducer,
        workflow_id: str,
        tasks: list[TaskHandle],
        tails: Sequence[int],
        many: bool,
    ) -> None:
        self._producer = producer
        self.id = workflow_id
        self.tasks = tasks
        """A handle per member, in the order the steps were written."""
        self._tails = [tasks[i] for i in tails]
        self._many = many

    def __repr__(self) -> str:
        return f"Workflow(id={self.id!r}, tasks={len(self.tasks)})"

    def progress(self) -> tuple[int, int, int]:
        """(done, failed, total): completed members, members failed for good or
        cancelled, and all members."""
        counts = self._producer.workflow_counts(self.id)
        failed = counts.get(Status.FAILED.value, 0) + counts.get(Status.CANCELLED.value, 0)
        return counts.get(Status.COMPLETED.value, 0), failed, len(self.tasks)

    def wait(
        self, timeout: float | None = None, poll: float = 0.05, return_exceptions: bool = False
    ) -> JSONValue:
        """Block until the last step finishes: its result, or the list of results when
        the workflow ends with a group. A step that failed or was cancelled (a member
        whose parent failed is cancelled, naming the parent) raises its `TaskFailed`;
        with `return_exceptions=True` a group's list holds it instead."""
        deadline = None if timeout is None else time.monotonic() + timeout
        results: list[JSONValue] = []
        for handle in self._tails:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                results.append(handle.wait(left, poll))
            except TaskFailed as exc:
                if not (self._many and return_exceptions):
                    raise
                results.append(exc)
        return results if self._many else results[0]


class _Compiler:
    """Turns nested steps into new tasks whose `parents` point at earlier ones."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self.nodes: list[NewTask] = []

    def add(self, step: Step, parents: tuple[int, ...], many: bool) -> tuple[tuple[int, ...], bool]:
        """Add `step` after `parents`; return its last tasks and whether they are many
        (a group), which decides whether the next step gets one result or a list."""
        if isinstance(step, Signature):
            return (self._task(step, parents, many),), False
        if isinstance(step, Chain):
            for inner in step.steps:
                parents, many = self.add(inner, parents, many)
            return parents, many
        if isinstance(step, Group):
            tails: tuple[int, ...] = ()
            for member in step.members:
                tails += self.add(member, parents, many)[0]
            return tails, True
        return self.add(Chain((step.header, step.body)), parents, many)

    def _task(self, sig: Signature, parents: tuple[int, ...], many: bool) -> int:
        new = sig.new_task()
        mode: PassResults | None = None
        args = new.args
        if not sig.immutable:
            if parents:
                mode = PassResults.ALL if many else PassResults.ONE
            elif many:
                args = [[], *args]  # after an empty group: the empty list of results
        self.nodes.append(
            replace(
                new, args=args, workflow_id=self.workflow_id, parents=parents, pass_results=mode
            )
        )
        return len(self.nodes) - 1


def _enqueue(step: Step, app: WorkflowProducer | None, connection: Any) -> Workflow:
    producer = app or _producer_of(step)
    compiler = _Compiler(str(uuid.uuid4()))
    tails, many = compiler.add(step, (), False)
    handles = producer.submit_many(compiler.nodes, connection) if compiler.nodes else []
    return Workflow(producer, compiler.workflow_id, handles, tails, many)


def _producer_of(step: Step) -> WorkflowProducer:
    for sig in _signatures(step):
        if sig.producer is not None:
            producer: WorkflowProducer = sig.producer  # type: ignore[assignment]
            return producer
    raise ConfigurationError("this workflow has no task of an app; pass app= to enqueue()")


def _signatures(step: Step) -> Iterable[Signature]:
    if isinstance(step, Signature):
        yield step
    elif isinstance(step, Chain):
        for inner in step.steps:
            yield from _signatures(inner)
    elif isinstance(step, Group):
        for member in step.members:
            yield from _signatures(member)
    else:
        yield from _signatures(step.header)
        yield from _signatures(step.body)
