"""How a handler's response becomes an outcome: pure functions, no network."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime

import httpx

import conveyor.core.target
import conveyor.push.executor
import conveyor.push.guard
from conveyor.push.executor import RESULT_LIMIT, result_of, retry_after


def test_doctests() -> None:
    for module in (conveyor.push.executor, conveyor.push.guard, conveyor.core.target):
        assert doctest.testmod(module).failed == 0


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    now = datetime(2026, 11, 24, 2, 0, 0, tzinfo=UTC)
    assert retry_after({"retry-after": "120"}, now) == 120.0
    assert retry_after({"retry-after": "Tue, 24 Nov 2026 02:00:30 GMT"}, now) == 30.0
    assert retry_after({"retry-after": "Tue, 24 Nov 2026 01:00:00 GMT"}, now) == 0.0
    assert retry_after({}, now) is None
    assert retry_after({"retry-after": "-5"}, now) is None


def response(body: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": content_type})


def test_a_json_body_is_the_result_and_anything_else_is_none() -> None:
    assert result_of(response(b'{"a": [1]}'), b'{"a": [1]}') == {"a": [1]}
    assert result_of(response(b"ok", "text/plain"), b"ok") is None
    assert result_of(response(b""), b"") is None
    assert result_of(response(b"{oops"), b"{oops") == {"invalid_json": True, "body": "{oops"}


def test_a_body_over_the_limit_is_kept_truncated() -> None:
    big = b'"' + b"x" * RESULT_LIMIT + b'"'
    result = result_of(response(big), big)
    assert result["truncated"] is True
    assert len(result["body"]) == RESULT_LIMIT
