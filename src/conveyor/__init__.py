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
from conveyor.tasks import TaskFunction, TaskHandle

__all__ = [
    "BatchHandle",
    "ConfigurationError",
    "Conveyor",
    "ConveyorError",
    "InvalidTransition",
    "PayloadError",
    "Priority",
    "RetryPolicy",
    "Status",
    "StoreUnavailable",
    "Task",
    "TaskCancelled",
    "TaskFailed",
    "TaskFunction",
    "TaskHandle",
    "TaskNotFound",
    "UnknownTaskError",
    "verify_signature",
]
