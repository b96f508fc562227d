"""JSON encoding of arguments and results; errors name the argument that is wrong."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from conveyor.core.task import JSONValue
from conveyor.errors import PayloadError

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""What `json.dumps` with these options builds on every call; encoding holds no state."""


def dumps(value: JSONValue) -> str:
    return _ENCODER.encode(value)


def loads(text: str | bytes | None) -> JSONValue:
    return None if text is None else json.loads(text)


def check_arguments(
    task_name: str, args: Sequence[JSONValue], kwargs: Mapping[str, JSONValue]
) -> tuple[list[JSONValue], dict[str, JSONValue]]:
    """Return the arguments as plain JSON values or raise naming the first bad one.

    >>> check_arguments("t", (1, "a"), {"x": [1]})
    ([1, 'a'], {'x': [1]})
    """
    for index, value in enumerate(args):
        _check(task_name, f"#{index}", value)
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise PayloadError(f"keyword {key!r} of task {task_name!r} is not a string")
        _check(task_name, repr(key), value)
    return list(args), dict(kwargs)


def check_result(task_name: str, value: JSONValue) -> JSONValue:
    try:
        # Encoding catches lone surrogates, which no store can keep.
        return json.loads(dumps(value).encode())
    except (TypeError, ValueError) as exc:
        raise PayloadError(
            f"the result of task {task_name!r} is not JSON-serialisable "
            f"({type(value).__name__}): {exc}"
        ) from None


def _check(task_name: str, label: str, value: JSONValue) -> None:
    try:
        dumps(value).encode()
    except (TypeError, ValueError) as exc:
        hint = "; pass an ISO-8601 string" if "datetime" in type(value).__name__ else ""
        raise PayloadError(
            f"argument {label} of task {task_name!r} is not JSON-serialisable "
            f"({type(value).__name__}: {exc}){hint}"
        ) from None
