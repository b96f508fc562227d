"""JSON encoding of arguments and results; errors name the argument that is wrong.

Limits that keep one task from exhausting a process: arguments and results nest at most
`MAX_DEPTH` levels of lists and objects (deeper JSON makes decoders recurse until they
fail, in Conveyor and in workers written in other languages), and idempotency keys are at
most `MAX_IDEMPOTENCY_KEY` characters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import accumulate

from conveyor.core.task import JSONValue
from conveyor.errors import ConfigurationError, PayloadError

MAX_DEPTH = 64
"""Most levels of nested lists and objects in one argument or result."""
MAX_IDEMPOTENCY_KEY = 255
"""Longest idempotency key, in characters."""

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""What `json.dumps` with these options builds on every call; encoding holds no state."""


_C_MAKE_ENCODER: Callable[..., Callable[[JSONValue, int], Iterable[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)
_ONE_SHOT = (
    None
    if _C_MAKE_ENCODER is None
    else _C_MAKE_ENCODER(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
)
"""The C encoder `_ENCODER.encode` builds on every call (half the cost of encoding a
small value), built once. It has no circular-reference check: a cycle recurses until
RecursionError, so only `encode_arguments` and `fits` use it, and both fall back to the
full check."""


def dumps(value: JSONValue) -> str:
    if value is None:
        return "null"  # what most handlers return, without the encoder's call chain
    return _ENCODER.encode(value)


def _dumps_fast(value: JSONValue) -> str:
    if _ONE_SHOT is None:
        return dumps(value)
    return "".join(_ONE_SHOT(value, 0))


def loads(text: str | bytes | None) -> JSONValue:
    return None if text is None else json.loads(text)


def check_arguments(
    task_name: str, args: Sequence[JSONValue], kwargs: Mapping[str, JSONValue]
) -> tuple[list[JSONValue], dict[str, JSONValue]]:
    """Return the arguments as plain JSON values or raise naming the first bad one.

    >>> check_arguments("t", (1, "a"), {"x": [1]})
    ([1, 'a'], {'x': [1]})
    """
    checked_args, checked_kwargs = list(args), dict(kwargs)
    for key in checked_kwargs:
        if not isinstance(key, str):
            raise PayloadError(f"keyword {key!r} of task {task_name!r} is not a string")
    if not fits(checked_args) or not fits(checked_kwargs):
        _check_each(task_name, checked_args, checked_kwargs)
    return checked_args, checked_kwargs


def encode_arguments(
    task_name: str, args: Sequence[JSONValue], kwargs: Mapping[str, JSONValue]
) -> tuple[str, str]:
    """The arguments as JSON text, checked as `check_arguments` checks them, in one
    encoding per container: what a store writes.

    >>> encode_arguments("t", [1, "a"], {})
    ('[1,"a"]', '{}')
    """
    try:
        args_text = _dumps_fast(args)
        fits = not text_too_deep(args_text.encode(), MAX_DEPTH + 1)
        if kwargs:
            kwargs_text = _dumps_fast(kwargs)
            fits = fits and not text_too_deep(kwargs_text.encode(), MAX_DEPTH + 1)
        else:
            kwargs_text = "{}"
    except (TypeError, ValueError, RecursionError):
        fits = False
    if not fits or (kwargs and not all(isinstance(key, str) for key in kwargs)):
        check_arguments(task_name, args, kwargs)
    return args_text, kwargs_text


def fits(container: list[JSONValue] | dict[str, JSONValue]) -> bool:
    """Whether every value in `container` encodes and nests at most `MAX_DEPTH` levels.

    One pass of the C encoder over the whole container, and a bracket count over its
    text, instead of a walk in Python per value: the container adds one level. False
    sends the caller to a check per value, which names the one that is wrong.

    >>> fits([1, {"a": [2]}]), fits([float("nan")])
    (True, False)
    """
    try:
        # Encoding to bytes catches lone surrogates, which no store can keep. The
        # one-shot encoder has no cycle check: a cycle ends in RecursionError, caught.
        text = _dumps_fast(container).encode()
    except (TypeError, ValueError, RecursionError):
        return False
    return not text_too_deep(text, MAX_DEPTH + 1)


def _check_each(task_name: str, args: Sequence[JSONValue], kwargs: Mapping[str, JSONValue]) -> None:
    for index, value in enumerate(args):
        _check(task_name, f"#{index}", value)
    for key, value in kwargs.items():
        _check(task_name, repr(key), value)


def nesting(value: JSONValue) -> int:
    """Levels of lists and objects in `value`, counted without recursing.

    >>> nesting(1), nesting([]), nesting({"a": [1, {"b": []}]})
    (0, 1, 4)
    """
    deepest = 0
    stack: list[tuple[JSONValue, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[JSONValue] = list(item.values())
        elif isinstance(item, list | tuple):
            children = list(item)
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_DEPTH:
            return deepest  # deep enough to refuse; no need to walk the rest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_depth(label: str, value: JSONValue) -> None:
    """Refuse a value nested deeper than `MAX_DEPTH`, naming it and the limit.

    >>> check_depth("argument #0", [[1]])
    """
    if nesting(value) > MAX_DEPTH:
        raise PayloadError(
            f"{label} nests lists and objects more than {MAX_DEPTH} levels deep; "
            f"the limit is {MAX_DEPTH}, flatten the value"
        )


def text_too_deep(raw: bytes, limit: int) -> bool:
    """True when JSON text nests arrays and objects more than `limit` levels, found by a
    scan that needs no decoder (decoders recurse, and fail deep inside the text).

    Every step but the last runs in C: escaped backslashes and escaped quotes are
    dropped, so each quote left opens or closes a string; of the quotes and brackets
    left, those between quotes at even positions lie outside every string, and are
    summed as they come.

    >>> text_too_deep(b'{"a": [1, "[[[["]}', 2), text_too_deep(b'[[["]"]]]', 2)
    (False, True)
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # the common case, counted in C
    marks = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_MARKS)
    brackets = b"".join(marks.split(b'"')[::2])
    if len(brackets) <= limit:
        return False
    return max(accumulate(map(_STEP.__getitem__, brackets))) > limit


_NOT_MARKS = bytes(b for b in range(256) if b not in b'"[]{}')
_STEP = [1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256)]


def check_idempotency_key(task_name: str, key: str | None) -> None:
    """Refuse a key that is not a string or longer than `MAX_IDEMPOTENCY_KEY` characters."""
    if key is None:
        return
    if not isinstance(key, str):
        raise ConfigurationError(
            f"task {task_name!r}: idempotency_key must be a string, not {key!r}"
        )
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise ConfigurationError(
            f"task {task_name!r}: idempotency_key is {len(key)} characters long; "
            f"the limit is {MAX_IDEMPOTENCY_KEY}"
        )


def check_result(task_name: str, value: JSONValue) -> JSONValue:
    if value is None or value is True or value is False or value.__class__ is int:
        return value  # most handlers return None; these need no encoding to prove them
    check_depth(f"the result of task {task_name!r}", value)
    try:
        # Encoding catches lone surrogates, which no store can keep.
        return json.loads(dumps(value).encode())
    except (TypeError, ValueError) as exc:
        raise PayloadError(
            f"the result of task {task_name!r} is not JSON-serialisable "
            f"({type(value).__name__}): {exc}"
        ) from None


def _check(task_name: str, label: str, value: JSONValue) -> None:
    check_depth(f"argument {label} of task {task_name!r}", value)
    try:
        dumps(value).encode()
    except (TypeError, ValueError) as exc:
        hint = "; pass an ISO-8601 string" if "datetime" in type(value).__name__ else ""
        raise PayloadError(
            f"argument {label} of task {task_name!r} is not JSON-serialisable "
            f"({type(value).__name__}: {exc}){hint}"
        ) from None
