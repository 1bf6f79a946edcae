"""Filters and sort orders evaluated over records in Python.

The reference semantics of the query vocabulary: the memory adapter runs on it, and every
other backend's compiled query must agree with it (the contract suite checks). Rules:

- A missing field and a null field are the same: ``{"a": None}`` matches both, ``exists`` is
  "not null", ``ne``/``not_in`` match nulls, order comparisons never match nulls.
- ``contains`` is a substring test on text and a membership test on lists and sets.
- The ``i*`` operators compare case-insensitively (casefold).
- In sort orders, null is smaller than every value.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from functools import cmp_to_key
from typing import Any

from ...ports.query import And, Condition, Filter, Op, SortField

_MISSING = object()


def get_path(record: Any, path: str) -> Any:
    """The value at a dotted path of nested dicts, or None when any part is missing."""
    value = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return None
    return value


def matches(record: dict[str, Any], tree: Filter | None) -> bool:
    if tree is None:
        return True
    if isinstance(tree, Condition):
        return _test(get_path(record, tree.field), tree.op, tree.value)
    if isinstance(tree, And):
        return all(matches(record, item) for item in tree.items)
    return any(matches(record, item) for item in tree.items)


def _text(value: Any) -> str | None:
    if isinstance(value, enum.Enum):
        value = value.value
    return value if isinstance(value, str) else None


def _ordered(value: Any, other: Any, compare: Callable[[Any, Any], bool]) -> bool:
    if value is None:
        return False
    try:
        return compare(value, other)
    except TypeError:
        return False


def _contains(value: Any, needle: Any) -> bool:
    if isinstance(value, str):
        return isinstance(needle, str) and needle in value
    if isinstance(value, list | tuple | set | frozenset):
        return needle in value
    return False


def _test(value: Any, op: Op, operand: Any) -> bool:
    if op is Op.EQ:
        return bool(value == operand)
    if op is Op.NE:
        return bool(value != operand)
    if op is Op.LT:
        return _ordered(value, operand, lambda a, b: a < b)
    if op is Op.LTE:
        return _ordered(value, operand, lambda a, b: a <= b)
    if op is Op.GT:
        return _ordered(value, operand, lambda a, b: a > b)
    if op is Op.GTE:
        return _ordered(value, operand, lambda a, b: a >= b)
    if op is Op.BETWEEN:
        low, high = operand
        return _ordered(value, None, lambda a, _: low <= a <= high)
    if op is Op.IN:
        return value in operand
    if op is Op.NOT_IN:
        return value not in operand
    if op is Op.CONTAINS:
        return _contains(value, operand)
    if op is Op.EXISTS:
        return value is not None
    if op is Op.NOT_EXISTS:
        return value is None
    text = _text(value)
    if text is None:
        return False
    if op is Op.ICONTAINS:
        return operand.casefold() in text.casefold()
    if op is Op.BEGINS_WITH:
        return text.startswith(operand)
    if op is Op.ISTARTSWITH:
        return text.casefold().startswith(operand.casefold())
    if op is Op.ENDSWITH:
        return text.endswith(operand)
    if op is Op.IENDSWITH:
        return text.casefold().endswith(operand.casefold())
    raise AssertionError(f"unhandled operator {op}")  # pragma: no cover


def compare_values(a: Any, b: Any) -> int:
    """Total order with null first; enums by value."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    if isinstance(a, enum.Enum):
        a = a.value
    if isinstance(b, enum.Enum):
        b = b.value
    return int(a > b) - int(a < b)


def compare_keys(a: Sequence[Any], b: Sequence[Any], sort: Sequence[SortField]) -> int:
    for left, right, item in zip(a, b, sort, strict=True):
        result = compare_values(left, right)
        if result:
            return -result if item.descending else result
    return 0


def sort_key_values(record: dict[str, Any], sort: Sequence[SortField]) -> tuple[Any, ...]:
    return tuple(get_path(record, s.field) for s in sort)


def sort_records(records: list[dict[str, Any]], sort: Sequence[SortField]) -> list[dict[str, Any]]:
    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        return compare_keys(sort_key_values(a, sort), sort_key_values(b, sort), sort)

    return sorted(records, key=cmp_to_key(compare))


def after_keyset(
    records: list[dict[str, Any]], sort: Sequence[SortField], after: Sequence[Any]
) -> list[dict[str, Any]]:
    """The records of an already sorted list that come strictly after ``after``."""
    return [r for r in records if compare_keys(sort_key_values(r, sort), after, sort) > 0]
