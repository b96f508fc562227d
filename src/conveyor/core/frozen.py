"""Building frozen, slotted dataclasses on hot paths.

The `__init__` a frozen dataclass gets sets each field through `object.__setattr__`,
looked up afresh per field. Setting the slots through their descriptors builds the same
object at about half the cost, which counts where one is built per task (a claimed
task, a new task, a receipt). It runs no `__post_init__` and applies no defaults: the
caller passes every field, in declaration order.

The builder is generated source, one statement per slot, as `dataclasses` generates
`__init__`: a loop over the slots cost a third more than the slots' own stores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def builder(cls: type[T]) -> Callable[[Sequence[Any]], T]:
    """A function taking every field's value, in declaration order, to a new `cls`."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    scope.update({f"set_{n}": getattr(cls, name).__set__ for n, name in enumerate(names)})
    values = ", ".join(f"v{n}" for n in range(len(names)))
    source = "\n".join(
        [
            "def build(values):",
            "    try:",
            f"        {values}, = values",
            "    except ValueError:",
            f"        raise TypeError(f'{cls.__name__} has {len(names)} fields, "
            "not {len(values)}') from None",
            "    made = new(cls)",
            *(f"    set_{n}(made, v{n})" for n in range(len(names))),
            "    return made",
        ]
    )
    exec(compile(source, f"<frozen builder of {cls.__qualname__}>", "exec"), scope)
    build: Callable[[Sequence[Any]], T] = scope["build"]
    return build
