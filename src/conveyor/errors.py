"""The one exception tree of Conveyor.

Expected outcomes (nothing to claim, a stale lease, a duplicate idempotency key) are
return values, never exceptions. What is raised is what a user can cause or must see::

    ConveyorError
    ├── ConfigurationError        a bad URL, setting or option
    ├── PayloadError              arguments or a result that are not JSON
    ├── UnknownTaskError          a task name nobody registered
    ├── TaskNotFound              no task with that id
    ├── InvalidTransition         e.g. cancelling a task that already finished
    ├── StoreUnavailable          the database cannot be reached
    └── TaskFailed                TaskHandle.wait() on a task that failed for good
        └── TaskCancelled         ... or was cancelled

A class's docstring is its default message.
"""

from __future__ import annotations


class ConveyorError(Exception):
    """Conveyor failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigurationError(ConveyorError):
    """The configuration is not valid."""


class PayloadError(ConveyorError):
    """The payload is not JSON-serialisable."""


class UnknownTaskError(ConveyorError):
    """No task is registered under that name."""


class TaskNotFound(ConveyorError):
    """No task has that id."""


class InvalidTransition(ConveyorError):
    """The task is not in a state that allows this."""

    def __init__(self, message: str | None = None, *, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


class StoreUnavailable(ConveyorError):
    """The store cannot be reached."""


class TaskFailed(ConveyorError):
    """The task failed for good."""

    def __init__(self, message: str | None = None, *, task_id: str = "") -> None:
        super().__init__(message)
        self.task_id = task_id


class TaskCancelled(TaskFailed):
    """The task was cancelled."""
