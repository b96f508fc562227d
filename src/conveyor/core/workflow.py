"""A stored workflow as readers see it: members and the edges between them."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.core.task import Task


@dataclass(frozen=True, slots=True)
class WorkflowView:
    """The members of one workflow, in enqueue order, and the edges between them."""

    id: str
    tasks: list[Task]
    edges: list[tuple[str, str]]
    """(parent id, child id), children in enqueue order, parents in the child's order."""

    def parents(self, task_id: str) -> list[str]:
        return [parent for parent, child in self.edges if child == task_id]
