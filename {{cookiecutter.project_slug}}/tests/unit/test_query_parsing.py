"""The filter dict syntax: semantics that differ from generic-repo on purpose."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from {{cookiecutter.package_name}}.ports.errors import InvalidCursor, InvalidQuery
from {{cookiecutter.package_name}}.ports.query import (
    MAX_REMEMBERED_EQUALITIES,
    And,
    Condition,
    CursorSigner,
    Op,
    Or,
    parse_equality,
    parse_filter,
    parse_sort,
)
from {{cookiecutter.package_name}}.ports.schema import schema_of


def test_a_list_means_in_not_equality_with_a_list() -> None:
    assert parse_filter({"a": [1, 2]}) == Condition("a", Op.IN, (1, 2))


def test_none_means_null_not_the_string_none() -> None:
    assert parse_filter({"a": None}) == Condition("a", Op.EQ, None)


def test_several_operators_and_together() -> None:
    assert parse_filter({"a": {"gt": 1, "lt": 5}}) == And(
        (Condition("a", Op.GT, 1), Condition("a", Op.LT, 5))
    )


def test_exists_false_means_not_exists() -> None:
    assert parse_filter({"a": {"exists": False}}) == Condition("a", Op.NOT_EXISTS)
    assert parse_filter({"a": {"not_exists": False}}) == Condition("a", Op.EXISTS)


def test_aliases() -> None:
    assert parse_filter({"a": {"ge": 1}}) == Condition("a", Op.GTE, 1)
    assert parse_filter({"a": {"le": 1}}) == Condition("a", Op.LTE, 1)
    assert parse_filter({"a": {"startswith": "x"}}) == Condition("a", Op.BEGINS_WITH, "x")


def test_or_groups() -> None:
    assert parse_filter({"or": [{"a": 1}, {"b": 2}]}) == Or(
        (Condition("a", Op.EQ, 1), Condition("b", Op.EQ, 2))
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"a": {"gt": 1, "eq_ish": 2}},
        {"a": {}},
        {"a": {"between": [1, 2, 3]}},
        {"a": {"in": "x"}},
        {"a": {"exists": 1}},
        {"a": {"istartswith": 5}},
        {"or": "x"},
        [1, 2],
    ],
)
def test_malformed_filters_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidQuery):
        parse_filter(bad)  # type: ignore[arg-type]


def test_sort_parsing() -> None:
    assert [str(s) for s in parse_sort("-a, b")] == ["-a", "b"]
    with pytest.raises(InvalidQuery):
        parse_sort(",")


def test_cursor_round_trip_and_tampering() -> None:
    signer = CursorSigner(b"k" * 32, "books|id|filter")
    token = signer.encode({"k": ["x"]})
    assert signer.decode(token) == {"k": ["x"]}
    flipped = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    for bad in ["", "%%%", token[:-3], "x" * 5000, flipped]:
        with pytest.raises(InvalidCursor):
            signer.decode(bad)


def test_cursors_are_bound_to_their_key_and_query() -> None:
    token = CursorSigner(b"k" * 32, "books|id|f1").encode({"k": ["x"]})
    for other in (
        CursorSigner(b"k" * 32, "publishers|id|f1"),  # another collection
        CursorSigner(b"k" * 32, "books|id|f2"),  # another filter
        CursorSigner(b"j" * 32, "books|id|f1"),  # another secret
    ):
        with pytest.raises(InvalidCursor):
            other.decode(token)


@dataclasses.dataclass
class Reading:
    id: str
    count: int
    ratio: float
    taken_at: dt.datetime


def test_remembered_equalities_keep_each_value_type_apart() -> None:
    schema = dataclasses.replace(schema_of(Reading), equalities={})
    one = parse_filter({"count": 1}, schema)
    assert parse_filter({"count": 1}, schema) is one  # remembered, not parsed again
    assert parse_equality("count", 1, schema) is one
    # True equals 1 and hashes alike, yet an int field refuses it, remembered 1 or not.
    for refused in (True, 1.5, "x"):
        with pytest.raises(InvalidQuery):
            parse_filter({"count": refused}, schema)
    assert parse_filter({"ratio": 1}, schema) == Condition("ratio", Op.EQ, 1.0)
    # A value is coerced once and the coerced condition remembered (a naive time is UTC).
    taken = parse_filter({"taken_at": "2026-01-02T03:04:05"}, schema)
    assert taken == Condition("taken_at", Op.EQ, dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    assert parse_filter({"taken_at": "2026-01-02T03:04:05"}, schema) is taken


def test_remembered_equalities_are_bounded() -> None:
    schema = dataclasses.replace(schema_of(Reading), equalities={})
    for n in range(MAX_REMEMBERED_EQUALITIES * 3):
        assert parse_filter({"id": f"r{n}"}, schema) == Condition("id", Op.EQ, f"r{n}")
        assert len(schema.equalities) <= MAX_REMEMBERED_EQUALITIES


def test_a_condition_reads_like_its_dataclass_repr() -> None:
    # Cursors are bound to the filter's repr: its format must not change under them.
    condition = Condition("status", Op.IN, ("a", None))
    names = [f.name for f in dataclasses.fields(Condition)]
    fields = ", ".join(f"{name}={getattr(condition, name)!r}" for name in names)
    assert repr(condition) == repr(condition) == f"Condition({fields})"
    assert repr(And((condition,))) == f"And(items=(Condition({fields}),))"
