"""The memory repository's reads: every one goes through the table's indexes (:mod:`.indexes`).

An equality on the id, a unique or an indexed field is a dict lookup, ``count`` of such a
filter is the size of the index entry, and an id-ordered page walks the id order until it
has its rows (``limit + 1`` of them: the last says another page follows). Other orders sort
only the candidates the indexes leave. Every read tests expiry; entities are rebuilt from
the stored records, sharing only their immutable scalars.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator, Sequence
from functools import cmp_to_key
from itertools import islice
from typing import Any, TypeVar

from ....ports.errors import InvalidCursor
from ....ports.query import (
    Filter,
    FilterInput,
    Page,
    Query,
    parse_equality,
    parse_filter,
    parse_sort,
)
from ..codec import revive
from ..common import (
    DerivedReads,
    build_page,
    expired,
    prepare,
    validate_field,
)
from ..evaluation import (
    Predicate,
    after_keyset,
    compare_values,
    compile_filter,
    first_records,
    get_path,
    sort_records,
)
from ..registry import EntitySpec
from .indexes import Record, Table

T = TypeVar("T")


def _anything(_row: Record) -> bool:
    return True


class MemoryReads(DerivedReads[T]):
    """The reads of :class:`.repository.MemoryRepository`."""

    spec: EntitySpec[T]
    _table: Table
    _read: Callable[[Record], T]

    def _row(self, key: str) -> Record | None:
        """The row at ``key`` unless it is missing or past its expiry."""
        row = self._table.rows.get(key)
        if row is None or self.spec.ttl_field is None:
            return row
        return None if expired(self.spec, row, dt.datetime.now(dt.UTC)) else row

    def _accept(self, tree: Filter | None) -> Predicate:
        """``tree`` as a test of a stored row, expired rows failing it."""
        if self.spec.ttl_field is None:
            return _anything if tree is None else compile_filter(tree)
        test = compile_filter(tree)
        spec, now = self.spec, dt.datetime.now(dt.UTC)
        return lambda row: not expired(spec, row, now) and test(row)

    def _scan(self, keys: Collection[str], tree: Filter | None) -> Iterator[Record]:
        """The visible rows among ``keys`` that pass ``tree``."""
        rows, accept = self._table.rows, self._accept(tree)
        source = rows.values() if keys is rows else map(rows.__getitem__, keys)
        return filter(accept, source)

    def _matching(self, tree: Filter | None) -> Iterator[Record]:
        """The visible rows matching ``tree``, in no particular order."""
        return self._scan(*self._table.candidates(tree))

    def _ordered(
        self, tree: Filter | None, descending: bool, after: str | None, end: int | None
    ) -> list[Record]:
        """The visible rows matching ``tree`` in id order, from the first id past ``after``:
        ``end`` of them at most (all when ``None``)."""
        table = self._table
        rows = table.rows
        keys, rest = table.candidates(tree)
        if rest is None and len(keys) <= 1 and keys is not rows:  # by id or a unique value
            return [
                row
                for key in keys
                if (after is None or (key < after if descending else key > after))
                and (row := self._row(key)) is not None
            ]
        walk: Iterator[str] | list[str]
        if keys is rows or (end is not None and len(keys) ** 2 > end * len(rows)):
            # Walking the id order until ``end`` rows match beats sorting the candidates.
            walk = table.order.descending(after) if descending else table.order.ascending(after)
            if keys is not rows:
                walk = filter(keys.__contains__, walk)
        else:
            walk = sorted(keys, reverse=descending)
            if after is not None:
                walk = [k for k in walk if (k < after if descending else k > after)]
        accept = self._accept(rest)
        found: Iterator[Record] = map(rows.__getitem__, walk)
        if accept is not _anything:
            found = filter(accept, found)
        return list(islice(found, end))

    async def get(self, id: str) -> T | None:
        row = self._row(id)
        return None if row is None else self._read(row)

    async def get_many(self, ids: Sequence[str]) -> list[T]:
        result: list[T] = []
        for key in dict.fromkeys(ids):
            row = self._row(key)
            if row is not None:
                result.append(self._read(row))
        return result

    async def get_by(self, field: str, value: Any) -> T | None:
        return self._first(parse_equality(field, value, self.spec.schema))

    async def find_one(self, filter: FilterInput) -> T | None:
        return self._first(parse_filter(filter, self.spec.schema))

    def _first(self, tree: Filter | None) -> T | None:
        """``find(Query(filter=tree, limit=1))``'s row, without the page and its cursor."""
        keys, rest = self._table.candidates(tree)
        if rest is None and len(keys) <= 1:  # by id or by a unique value: nothing to order
            row = self._row(next(iter(keys))) if keys else None
        else:
            found = self._ordered(tree, False, None, 1)
            row = found[0] if found else None
        return None if row is None else self._read(row)

    async def find(self, query: Query | None = None) -> Page[T]:
        prepared = prepare(self.spec, query)
        if prepared.payload is not None:
            raise InvalidCursor("this cursor was not issued by this backend")
        sort, offset = prepared.sort, prepared.offset
        end = None if prepared.limit is None else offset + prepared.limit + 1
        if len(sort) == 1 and sort[0].field == self.spec.id_field:
            after = None if prepared.after is None else prepared.after[0]
            rows = self._ordered(prepared.filter, sort[0].descending, after, end)[offset:]
        else:
            rows = list(self._matching(prepared.filter))
            if prepared.after is not None:
                rows = after_keyset(rows, sort, prepared.after)
            if end is None:
                rows = sort_records(rows, sort)[offset:]
            else:
                # Only the page (and one more row) is ordered, not every matching row.
                rows = first_records(rows, sort, end)[offset:]
        return build_page(self.spec, rows, prepared, self._read)

    async def count(self, filter: FilterInput | None = None) -> int:
        tree = parse_filter(filter, self.spec.schema)
        keys, rest = self._table.candidates(tree)
        if rest is None and self.spec.ttl_field is None:
            return len(keys)
        return sum(1 for _ in self._scan(keys, rest))

    async def exists(self, filter: FilterInput | None = None) -> bool:
        return next(self._matching(parse_filter(filter, self.spec.schema)), None) is not None

    async def distinct(self, field: str, filter: FilterInput | None = None) -> list[Any]:
        validate_field(self.spec, field)
        parse_sort(field, self.spec.schema)  # distinct values must be orderable scalars
        info = self.spec.schema.resolve(field)
        assert info is not None
        seen: dict[Any, None] = {}
        for row in self._matching(parse_filter(filter, self.spec.schema)):
            value = get_path(row, field)
            if value is not None:
                seen.setdefault(value, None)
        values = [revive(info, v) for v in seen]
        return sorted(values, key=cmp_to_key(compare_values))
