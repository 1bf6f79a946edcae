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
import heapq
import operator
from collections.abc import Callable, Iterable, Sequence
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


Predicate = Callable[[dict[str, Any]], bool]


def compile_filter(tree: Filter | None) -> Predicate:
    """``matches`` as one closure per filter, built once per query: no tree walk, no operator
    dispatch per record. ``matches(r, tree) == compile_filter(tree)(r)`` for every record."""
    if tree is None:
        return lambda _record: True
    if isinstance(tree, Condition):
        return _compile_condition(tree)
    parts = [compile_filter(item) for item in tree.items]
    if isinstance(tree, And):
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            first, second = parts
            return lambda record: first(record) and second(record)
        return lambda record: all(part(record) for part in parts)
    return lambda record: any(part(record) for part in parts)


def _compile_condition(condition: Condition) -> Predicate:
    field, op, operand = condition.field, condition.op, condition.value
    if "." in field:
        return lambda record: _test(get_path(record, field), op, operand)
    if op is Op.EQ:
        return lambda record: bool(record.get(field) == operand)
    if op is Op.NE:
        return lambda record: bool(record.get(field) != operand)
    if op is Op.IN:
        return lambda record: record.get(field) in operand
    if op is Op.EXISTS:
        return lambda record: record.get(field) is not None
    if op is Op.NOT_EXISTS:
        return lambda record: record.get(field) is None
    compare = _COMPARISONS.get(op)
    if compare is not None:
        # ``_ordered`` inlined: null never compares, nor do values of another type.
        def ordered(record: dict[str, Any]) -> bool:
            value = record.get(field)
            if value is None:
                return False
            try:
                return compare(value, operand)
            except TypeError:
                return False

        return ordered
    return lambda record: _test(record.get(field), op, operand)


_COMPARISONS: dict[Op, Callable[[Any, Any], bool]] = {
    Op.LT: operator.lt,
    Op.LTE: operator.le,
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
}


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


# Sorting compares precomputed keys natively: one key per record, never a Python comparison
# function re-reading both records at each of the n log n comparisons. The keys order exactly
# like ``compare_keys``: null first, enums by value, descending fields reversed. Sorts reverse
# a descending field by sorting in reverse; a keyset bound, compared once per record, wraps
# it in ``_Descending`` (``sort_key``).


class _Descending:
    """A sort key part in reverse order."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __lt__(self, other: _Descending) -> bool:
        return other.key < self.key

    def __gt__(self, other: _Descending) -> bool:
        return self.key < other.key


def _part(value: Any, descending: bool) -> Any:
    if value is None:
        key: tuple[Any, ...] = (False,)  # before every value; never compared with one
    else:
        key = (True, value.value if isinstance(value, enum.Enum) else value)
    return _Descending(key) if descending else key


def sort_key(sort: Sequence[SortField]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A key function ordering records like ``compare_keys`` does."""
    getters = [_getter(s.field) for s in sort]
    directions = [s.descending for s in sort]
    if len(sort) == 1:
        (get,), (descending,) = getters, directions
        return lambda record: (_part(get(record), descending),)
    if len(sort) == 2:
        (get1, get2), (desc1, desc2) = getters, directions
        return lambda record: (_part(get1(record), desc1), _part(get2(record), desc2))
    plan = list(zip(getters, directions, strict=True))
    return lambda record: tuple(_part(get(record), descending) for get, descending in plan)


def _getter(field: str) -> Callable[[dict[str, Any]], Any]:
    if "." in field:
        return lambda record: get_path(record, field)
    return lambda record: record.get(field)


def keyset_key(sort: Sequence[SortField], values: Sequence[Any]) -> tuple[Any, ...]:
    """The key of a keyset position (a cursor's sort values), comparable with ``sort_key``."""
    return tuple(_part(v, s.descending) for v, s in zip(values, sort, strict=True))


def sort_records(records: list[dict[str, Any]], sort: Sequence[SortField]) -> list[dict[str, Any]]:
    """The records ordered like ``compare_keys``: one stable sort per run of keys sharing a
    direction, least significant run first. A descending run sorts in reverse (which keeps
    ties in order), so every comparison is native, with no wrapper reversing it."""
    ordered = list(records)
    for key, descending in reversed(_runs(sort)):
        ordered.sort(key=key, reverse=descending)
    return ordered


def first_records(
    records: Iterable[dict[str, Any]], sort: Sequence[SortField], count: int
) -> list[dict[str, Any]]:
    """``sort_records(records, sort)[:count]`` without sorting every record: a bounded heap
    picks the first ``count`` by the leading run of keys; only the records that tie with the
    last of them, or come before it, are sorted by every key."""
    if count <= 0:
        return []
    runs = _runs(sort)
    if not runs:
        return list(records)[:count]
    key, descending = runs[0]
    pick = heapq.nlargest if descending else heapq.nsmallest
    if len(runs) == 1:
        return pick(count, records, key=key)
    rows = records if isinstance(records, list) else list(records)
    leading = pick(count, rows, key=key)
    if len(leading) < count:
        return sort_records(rows, sort)
    bound = key(leading[-1])
    near = [r for r in rows if (key(r) >= bound if descending else key(r) <= bound)]
    return sort_records(near, sort)[:count]


def _runs(sort: Sequence[SortField]) -> list[tuple[Callable[[dict[str, Any]], Any], bool]]:
    """The sort as runs of consecutive keys sharing a direction, most significant first: each
    a key function (ascending, nulls first) and whether the run is descending."""
    runs: list[tuple[Callable[[dict[str, Any]], Any], bool]] = []
    start = 0
    for end in range(1, len(sort) + 1):
        if end == len(sort) or sort[end].descending != sort[start].descending:
            runs.append((_ascending_key(sort[start:end]), sort[start].descending))
            start = end
    return runs


def _ascending_key(sort: Sequence[SortField]) -> Callable[[dict[str, Any]], Any]:
    getters = [_getter(s.field) for s in sort]
    if len(getters) == 1:
        (get,) = getters
        return lambda record: _part(get(record), False)
    return lambda record: tuple(_part(get(record), False) for get in getters)


def after_keyset(
    records: list[dict[str, Any]], sort: Sequence[SortField], after: Sequence[Any]
) -> list[dict[str, Any]]:
    """The records that come strictly after ``after`` in the ``sort`` order."""
    key, bound = sort_key(sort), keyset_key(sort, after)
    return [r for r in records if key(r) > bound]
