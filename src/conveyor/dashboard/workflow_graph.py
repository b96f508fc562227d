"""The graph around a workflow member: its parents, its children, and the workflow in
layers (each member one layer right of its deepest parent), computed without I/O."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.core.task import Task
from conveyor.core.workflow import WorkflowView

LARGEST_DRAWN = 200
"""Workflows (and batches) beyond this many members are summed up, not drawn."""


@dataclass(frozen=True, slots=True)
class Graph:
    workflow_id: str
    current: str
    parents: list[Task]
    children: list[Task]
    layers: list[list[Task]]
    parents_of: dict[str, list[str]]


def graph_around(view: WorkflowView, task_id: str) -> Graph:
    by_id = {t.id: t for t in view.tasks}
    parents_of: dict[str, list[str]] = {}
    children_of: dict[str, list[str]] = {}
    for parent, child in view.edges:
        parents_of.setdefault(child, []).append(parent)
        children_of.setdefault(parent, []).append(child)
    depth: dict[str, int] = {}
    # Members come in enqueue order and a parent is always enqueued before its children.
    for task in view.tasks:
        depth[task.id] = 1 + max((depth.get(p, 0) for p in parents_of.get(task.id, [])), default=-1)
    layers: list[list[Task]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for task in view.tasks:
        layers[depth[task.id]].append(task)
    return Graph(
        workflow_id=view.id,
        current=task_id,
        parents=[by_id[p] for p in parents_of.get(task_id, []) if p in by_id],
        children=[by_id[c] for c in children_of.get(task_id, []) if c in by_id],
        layers=layers,
        parents_of=parents_of,
    )
