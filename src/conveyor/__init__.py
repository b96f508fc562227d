"""Conveyor: a durable task queue for Python that any language can use over HTTP."""

from conveyor.app import Conveyor
from conveyor.batches import BatchHandle
from conveyor.core.task import Priority, RetryPolicy, Status, Task
from conveyor.errors import (
    ConfigurationError,
    ConveyorError,
    InvalidTransition,
    PayloadError,
    StoreUnavailable,
    TaskCancelled,
    TaskFailed,
    TaskNotFound,
    UnknownTaskError,
)
from conveyor.push.signing import verify_signature
from conveyor.tasks import Signature, TaskFunction, TaskHandle
from conveyor.workflows import Chain, Chord, Group, Workflow, chain, chord, group

__all__ = [
    "BatchHandle",
    "Chain",
    "Chord",
    "ConfigurationError",
    "Conveyor",
    "ConveyorError",
    "Group",
    "InvalidTransition",
    "PayloadError",
    "Priority",
    "RetryPolicy",
    "Signature",
    "Status",
    "StoreUnavailable",
    "Task",
    "TaskCancelled",
    "TaskFailed",
    "TaskFunction",
    "TaskHandle",
    "TaskNotFound",
    "UnknownTaskError",
    "Workflow",
    "chain",
    "chord",
    "group",
    "verify_signature",
]
