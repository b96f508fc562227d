"""Payloads are JSON only, and a bad one is refused with an error naming the argument."""

from __future__ import annotations

import datetime
import decimal
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.core import payload
from conveyor.errors import ConfigurationError, PayloadError

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


def test_good_arguments_come_back_as_plain_lists_and_dicts() -> None:
    args, kwargs = payload.check_arguments("t", (1, "a", [None]), {"x": {"y": 1.5}})

    assert args == [1, "a", [None]]
    assert isinstance(args, list)
    assert kwargs == {"x": {"y": 1.5}}


def test_bad_positional_argument_is_named_by_its_index() -> None:
    with pytest.raises(PayloadError) as caught:
        payload.check_arguments("resize", [1, {1, 2}], {})

    message = str(caught.value)
    assert "#1" in message
    assert "'resize'" in message
    assert "set" in message


def test_bad_keyword_argument_is_named() -> None:
    when = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    with pytest.raises(PayloadError) as caught:
        payload.check_arguments("send_report", [], {"to": "ops", "when": when})

    message = str(caught.value)
    assert "'when'" in message
    assert "'send_report'" in message
    assert "datetime" in message
    assert "ISO-8601" in message


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")], ids=str)
def test_non_finite_floats_are_refused(value: float) -> None:
    with pytest.raises(PayloadError, match="'ratio'"):
        payload.check_arguments("t", [], {"ratio": value})


def test_non_string_keyword_is_named() -> None:
    with pytest.raises(PayloadError, match="keyword 3 of task 't'"):
        payload.check_arguments("t", [], {3: "x"})  # type: ignore[dict-item]


def test_bad_result_names_the_task_and_the_type() -> None:
    with pytest.raises(PayloadError) as caught:
        payload.check_result("invoice", decimal.Decimal("1.10"))

    assert "'invoice'" in str(caught.value)
    assert "Decimal" in str(caught.value)


def test_result_is_normalised_to_json() -> None:
    assert payload.check_result("t", (1, 2)) == [1, 2]


@given(json_values)
def test_json_values_round_trip(value: object) -> None:
    assert payload.loads(payload.dumps(value)) == value


def test_loads_of_none_is_none() -> None:
    assert payload.loads(None) is None


def nested(levels: int) -> object:
    value: object = "leaf"
    for _ in range(levels):
        value = {"k": value}
    return value


def test_arguments_nested_past_the_limit_are_refused_naming_the_limit() -> None:
    payload.check_arguments("t", [nested(payload.MAX_DEPTH)], {"a": nested(payload.MAX_DEPTH)})

    with pytest.raises(PayloadError) as caught:
        payload.check_arguments("t", [], {"deep": nested(payload.MAX_DEPTH + 1)})

    assert "argument 'deep' of task 't'" in str(caught.value)
    assert f"the limit is {payload.MAX_DEPTH}" in str(caught.value)


def test_a_result_nested_past_the_limit_is_refused() -> None:
    with pytest.raises(PayloadError, match=f"the limit is {payload.MAX_DEPTH}"):
        payload.check_result("t", nested(10_000))


def test_nesting_is_counted_without_recursion() -> None:
    assert payload.nesting(nested(100_000)) > payload.MAX_DEPTH


tricky_text = st.text(alphabet='[]{}"\\ab', max_size=8)
"""Strings of brackets, quotes and backslashes: what a scan for depth must see past."""

tricky_values = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4)
    ),
    max_leaves=30,
)


@given(tricky_values)
def test_the_text_scan_finds_the_nesting_a_walk_finds(value: object) -> None:
    depth = payload.nesting(value)  # type: ignore[arg-type]
    for text in (json.dumps(value), json.dumps(value, separators=(",", ":"), indent=1)):
        raw = text.encode()
        assert not payload.text_too_deep(raw, depth)
        if depth:
            assert payload.text_too_deep(raw, depth - 1)


def test_the_text_scan_skips_escaped_quotes_and_backslashes() -> None:
    # A string ending in an escaped backslash, then one holding a quote and brackets.
    raw = json.dumps(["\\", '"[[[', {"a": '\\"]]'}]).encode()

    assert not payload.text_too_deep(raw, 2)
    assert payload.text_too_deep(raw, 1)


def test_a_cycle_does_not_fit_and_is_named() -> None:
    loop: list[object] = []
    loop.append(loop)

    assert not payload.fits([loop])
    with pytest.raises(PayloadError, match="#0"):
        payload.check_arguments("t", [loop], {})


def test_an_idempotency_key_over_the_limit_is_refused() -> None:
    payload.check_idempotency_key("t", "k" * payload.MAX_IDEMPOTENCY_KEY)

    with pytest.raises(ConfigurationError, match="256 characters long; the limit is 255"):
        payload.check_idempotency_key("t", "k" * 256)
