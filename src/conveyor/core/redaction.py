"""Secret payload fields, hidden wherever a task is shown rather than run.

A queue's `secret_fields` names payload (keyword argument) keys whose values are secret.
The rule: every reader of the HTTP API (admin included) and every log line sees "***"
in their place, and so does any text that quotes them (an attempt's error message or
traceback, the result); the handler that runs the task, in a Python worker or through the
pull protocol, gets the real values. Stored tasks keep the real values, so a replay runs
as the original did.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import replace

from conveyor.core.task import JSONValue, Task

MASK = "***"
SHORTEST_QUOTED = 4
"""Secret values shorter than this are masked as fields but not searched for in text: a
one-letter value would blank out every word containing it."""


def secret_values(task: Task, secret_fields: Collection[str]) -> list[str]:
    """The secret values of `task`'s payload as text, longest first."""
    found = set()
    for key in secret_fields:
        if key in task.kwargs:
            value = task.kwargs[key]
            text = value if isinstance(value, str) else json.dumps(value)
            if len(text) >= SHORTEST_QUOTED:
                found.add(text)
    return sorted(found, key=len, reverse=True)


def mask_text(text: str, values: Collection[str]) -> str:
    """`text` with every occurrence of the secret `values` replaced by the mask.

    >>> mask_text("card 4111-1111 declined", ["4111-1111"])
    'card *** declined'
    """
    for value in values:
        text = text.replace(value, MASK)
    return text


def redact(task: Task, secret_fields: Collection[str]) -> Task:
    """`task` as a reader may see it: secret payload values and quotes of them masked."""
    secret = [key for key in secret_fields if key in task.kwargs]
    if not secret:
        return task
    values = secret_values(task, secret)
    kwargs = {k: MASK if k in secret else v for k, v in task.kwargs.items()}
    return replace(
        task,
        kwargs=kwargs,
        result=_masked(task.result, values),
        errors=[_masked(e, values) for e in task.errors],
    )


def _masked(value: JSONValue, values: Collection[str]) -> JSONValue:
    """Every string inside `value` masked (stored values nest at most MAX_DEPTH levels)."""
    if not values:
        return value
    if isinstance(value, str):
        return mask_text(value, values)
    if isinstance(value, list):
        return [_masked(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v, values) for k, v in value.items()}
    return value
