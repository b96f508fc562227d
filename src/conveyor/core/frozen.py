"""Building frozen, slotted dataclasses on hot paths.

The `__init__` a frozen dataclass gets sets each field through `object.__setattr__`,
looked up afresh per field. Setting the slots through their descriptors builds the same
object at about half the cost, which counts where one is built per task (a claimed
task, a new task, a receipt). It runs no `__post_init__` and applies no defaults: the
caller passes every field, in declaration order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def builder(cls: type[T]) -> Callable[[Sequence[Any]], T]:
    """A function taking every field's value, in declaration order, to a new `cls`."""
    setters = tuple(getattr(cls, f.name).__set__ for f in fields(cls))  # type: ignore[arg-type]
    count = len(setters)
    new = object.__new__

    def build(values: Sequence[Any]) -> T:
        if len(values) != count:
            raise TypeError(f"{cls.__name__} has {count} fields, not {len(values)}")
        made: T = new(cls)
        for set_slot, value in zip(setters, values):  # noqa: B905 (lengths checked above)
            set_slot(made, value)
        return made

    return build
