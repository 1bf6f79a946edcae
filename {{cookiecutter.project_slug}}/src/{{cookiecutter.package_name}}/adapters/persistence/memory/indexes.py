"""The memory backend's tables and the indexes its reads use instead of scanning every row.

A :class:`Table` keeps, next to its rows, indexes maintained on every write (and so undone with
it): each unique constraint's values -> the key holding them, each declared index's values ->
the keys holding them, and every key in id order (:class:`SortedKeys`), so an id-ordered page
stops after its last row instead of sorting the table. :meth:`Table.candidates` turns a parsed
filter into the keys worth testing.

Rows are never changed in place (a write replaces the whole record), so the indexes and the
undo log hold references to rows, never copies. Expired rows stay indexed: every read still
tests expiry on the rows an index hands it.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right, insort
from collections.abc import Collection, Iterator, Mapping
from itertools import chain
from typing import Any

from ....ports.query import And, Condition, Filter, Op
from ....ports.schema import SCALAR_KINDS
from ..specs import EntitySpec

Record = dict[str, Any]


class SortedKeys:
    """Keys in ascending order, as sorted blocks of at most ``2 * LOAD`` keys: an insertion or
    a removal shifts one block, not the whole table, and a walk can start after any key."""

    LOAD = 512

    def __init__(self) -> None:
        self._blocks: list[list[str]] = []
        self._maxes: list[str] = []  # the last key of each block

    def __len__(self) -> int:
        return sum(len(block) for block in self._blocks)

    def add(self, key: str) -> None:
        """Insert ``key``, which must not be present."""
        blocks, maxes = self._blocks, self._maxes
        if not maxes:
            blocks.append([key])
            maxes.append(key)
            return
        i = bisect_left(maxes, key)
        if i == len(maxes):
            i -= 1
            block = blocks[i]
            block.append(key)
            maxes[i] = key
        else:
            block = blocks[i]
            insort(block, key)
        if len(block) > 2 * self.LOAD:
            blocks.insert(i + 1, block[self.LOAD :])
            del block[self.LOAD :]
            maxes.insert(i, block[-1])

    def discard(self, key: str) -> None:
        blocks, maxes = self._blocks, self._maxes
        i = bisect_left(maxes, key)
        if i == len(maxes):
            return
        block = blocks[i]
        j = bisect_left(block, key)
        if j == len(block) or block[j] != key:
            return
        del block[j]
        if not block:
            del blocks[i]
            del maxes[i]
        elif j == len(block):
            maxes[i] = block[-1]

    def ascending(self, after: str | None = None) -> Iterator[str]:
        """The keys in order, from the first one greater than ``after``."""
        blocks = self._blocks
        i = 0 if after is None else bisect_right(self._maxes, after)
        if i == len(blocks):
            return iter(())
        first = blocks[i] if after is None else blocks[i][bisect_right(blocks[i], after) :]
        return chain(first, chain.from_iterable(blocks[i + 1 :]))

    def descending(self, before: str | None = None) -> Iterator[str]:
        """The keys in reverse order, from the last one smaller than ``before``."""
        blocks = self._blocks
        if not blocks:
            return iter(())
        i = len(blocks) - 1 if before is None else bisect_left(self._maxes, before)
        if i == len(blocks):  # every key is smaller
            i, before = i - 1, None
        first = blocks[i] if before is None else blocks[i][: bisect_left(blocks[i], before)]
        return chain(reversed(first), chain.from_iterable(map(reversed, reversed(blocks[:i]))))


class Table:
    """One entity's rows by key, with its unique maps, value indexes and id order.

    Only fields holding scalars are indexed by value: their values hash like they compare, and
    every stored record went through the field's type, as every parsed filter value does.
    """

    def __init__(self, lock: asyncio.Lock, spec: EntitySpec[Any]) -> None:
        self.rows: dict[str, Record] = {}
        self.id_field = spec.id_field
        self.unique_keys = spec.unique_keys
        # unique constraint (its fields) -> values -> the key of the row holding them
        self.unique: dict[tuple[str, ...], dict[tuple[Any, ...], str]] = {
            fields: {} for fields in self.unique_keys
        }
        kinds = {name: info.kind for name, info in spec.schema.fields.items()}
        # field -> value (null included) -> the keys of the rows holding it
        self.index: dict[str, dict[Any, set[str]]] = {
            name: {} for name in spec.indexes if kinds[name] in SCALAR_KINDS
        }
        self.order = SortedKeys()
        self.lock = lock  # the backend's: references and units of work span tables
        # the unique constraints a filter's equalities can look up (scalar fields only)
        scalar = [f for f in self.unique_keys if all(kinds[name] in SCALAR_KINDS for name in f)]
        self._holders = {f[0]: self.unique[f] for f in scalar if len(f) == 1}  # by field name
        self._compound = [fields for fields in scalar if len(fields) > 1]

    def index_entries(self, record: Mapping[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
        """(constraint, values) for every unique constraint whose values are all non-null."""
        entries: list[tuple[tuple[str, ...], Any]] = []
        for fields in self.unique_keys:
            if len(fields) == 1:
                value = record.get(fields[0])
                if value is not None:
                    entries.append((fields, (value,)))
                continue
            values = tuple(record.get(f) for f in fields)
            if all(v is not None for v in values):
                entries.append((fields, values))
        return entries

    def replace(self, key: str, record: Record | None) -> None:
        """Put ``record`` at ``key`` (``None``: no row), every index following it. The table
        keeps ``record`` itself: the caller hands over a record nobody else changes."""
        current = self.rows.pop(key, None)
        if current is None:
            if record is not None:
                self.order.add(key)
        else:
            for fields, values in self.index_entries(current):
                holders = self.unique[fields]
                if holders.get(values) == key:
                    del holders[values]
            for name, buckets in self.index.items():
                value = current.get(name)
                held = buckets[value]
                held.discard(key)
                if not held:
                    del buckets[value]
            if record is None:
                self.order.discard(key)
        if record is None:
            return
        self.rows[key] = record
        for fields, values in self.index_entries(record):
            self.unique[fields][values] = key
        for name, buckets in self.index.items():
            value = record.get(name)
            bucket = buckets.get(value)
            if bucket is None:
                buckets[value] = {key}
            else:
                bucket.add(key)

    # --- reads -------------------------------------------------------------------------------

    def candidates(self, tree: Filter | None) -> tuple[Collection[str], Filter | None]:
        """The keys of the rows that can match ``tree``, and what of ``tree`` those rows must
        still pass (``None``: they all match, expiry aside). An equality or ``in`` on the id, a
        unique or an indexed field is answered by its index, a conjunction by its narrowest
        such part (or a compound unique constraint) and the rest of it left to test, anything
        else by every key."""
        if tree is None:
            return self.rows, None
        if isinstance(tree, Condition):
            found = self._lookup(tree)
            return (self.rows, tree) if found is None else (found, None)
        if not isinstance(tree, And):
            return self.rows, tree
        best, used = self._compound_lookup(tree)
        for item in tree.items:
            if best is not None and len(best) <= 1:
                break
            if isinstance(item, Condition):
                found = self._lookup(item)
                if found is not None and (best is None or len(found) < len(best)):
                    best, used = found, [item]
        if best is None:
            return self.rows, tree
        rest = [item for item in tree.items if all(item is not u for u in used)]
        return best, None if not rest else rest[0] if len(rest) == 1 else And(tuple(rest))

    def _lookup(self, condition: Condition) -> Collection[str] | None:
        field, op, operand = condition.field, condition.op, condition.value
        try:
            if op is Op.EQ:
                if field == self.id_field:
                    return (operand,) if operand in self.rows else ()
                holders = self._holders.get(field)
                if holders is not None and operand is not None:
                    key = holders.get((operand,))
                    return () if key is None else (key,)
                buckets = self.index.get(field)
                return None if buckets is None else buckets.get(operand, ())
            if op is not Op.IN:
                return None
            if field == self.id_field:
                return [v for v in dict.fromkeys(operand) if v in self.rows]
            holders = self._holders.get(field)
            if holders is not None and None not in operand:
                return list(dict.fromkeys(k for v in operand if (k := holders.get((v,)))))
            buckets = self.index.get(field)
            if buckets is None:
                return None
            return set().union(*(buckets.get(v, ()) for v in operand))
        except TypeError:  # an unhashable operand: no index answers it
            return None

    def _compound_lookup(self, tree: And) -> tuple[Collection[str] | None, list[Filter]]:
        """The row holding a compound unique constraint's values, when ``tree`` has an
        equality on each of its fields, and those equalities."""
        if not self._compound:
            return None, []
        equal = {
            item.field: item
            for item in tree.items
            if isinstance(item, Condition) and item.op is Op.EQ and item.value is not None
        }
        for fields in self._compound:
            if all(f in equal for f in fields):
                used: list[Filter] = [equal[f] for f in fields]
                try:
                    key = self.unique[fields].get(tuple(equal[f].value for f in fields))
                except TypeError:
                    continue
                return (() if key is None else (key,)), used
        return None, []
