"""The in-process backend: the reference implementation of every repository rule.

Every write runs under the backend's one lock and checks id, unique constraints, version,
conditions and enforced references before it changes anything, so concurrent coroutines see
the same guarantees a database gives. Deleting a target applies the ``on_delete`` rules of
every relation pointing at it under the same lock. Callers never share mutable state with the
store: a write stores the fresh record it made from the entity (values that may hold arbitrary
objects are deep-copied), and a read rebuilds every list, set, dict and nested value; immutable
scalars are shared, never copied. For one process only: tests, demos, scripts.

This module holds the repository's checks and writes; its reads, all through the table's
indexes, are in :mod:`.reads`; the backend it runs on (tables, lock, units of work, row
changes) is in :mod:`.backend`, and re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ....ports.errors import AlreadyExists, ConcurrencyConflict, ReferenceNotFound
from ....ports.query import FilterInput
from ....ports.schema import SCALAR_KINDS, FieldInfo, Kind
from ..codec import is_plain, own_record_reader, plain_copy, to_record
from ..common import (
    GuardedFieldUpdates,
    diagnose_write,
    entity_id,
    new_record,
    parse_conditions,
    through_domain,
    unique_label,
    version_of,
    with_version,
)
from ..evaluation import matches
from ..registry import EntitySpec
from .backend import MemoryBackend, Table, delete_rows, live_row, store_row
from .indexes import Record
from .reads import MemoryReads

__all__ = ["MemoryBackend", "MemoryRepository"]

T = TypeVar("T")


def _may_share(info: FieldInfo) -> bool:
    """Whether ``to_record`` may leave an arbitrary (possibly mutable) object in this field."""
    if info.kind in (Kind.LIST, Kind.SET):
        return info.item is None or info.item.kind not in SCALAR_KINDS
    return info.kind not in SCALAR_KINDS


class MemoryRepository(GuardedFieldUpdates[T], MemoryReads[T]):
    def __init__(self, spec: EntitySpec[T], table: Table, backend: MemoryBackend) -> None:
        self.spec = spec
        self._table = table
        self._backend = backend
        self._read = own_record_reader(spec.entity)
        self._references = tuple(spec.references.values())
        self._walked = tuple(n for n, info in spec.schema.fields.items() if _may_share(info))

    @property
    def entity_name(self) -> str:
        return self.spec.name

    # --- checks (under the backend lock) -------------------------------------------------------

    def _check_unique(self, record: Mapping[str, Any], own_key: str | None) -> None:
        for fields, values in self._table.index_entries(record):
            holder = self._table.unique[fields].get(values)
            if holder is not None and holder != own_key and self._row(holder) is not None:
                value = values[0] if len(values) == 1 else values
                raise AlreadyExists(self.spec.name, unique_label(fields), value)

    def _check_references(self, record: Mapping[str, Any]) -> None:
        for rel in self._references:
            value = record.get(rel.local_field)
            if value is None:
                continue
            target = self._backend.spec(rel.target)
            if live_row(target, self._backend.table(target), value) is None:
                raise ReferenceNotFound(self.spec.name, rel.local_field, value, rel.target)

    def _check_write(self, key: str, record: Mapping[str, Any]) -> None:
        self._check_unique(record, key)
        self._check_references(record)

    # --- writes ------------------------------------------------------------------------------

    def _store(self, key: str, record: Record) -> None:
        """Store ``record``, a fresh ``to_record`` of the entity written: the table keeps it, so
        the values that may still hold the caller's objects are copied first."""
        for name in self._walked:
            value = record.get(name)
            if value is not None and not is_plain(value):
                record[name] = plain_copy(value)
        store_row(self._backend, self._table, key, record)

    def _prepare_new(self, entity: T) -> tuple[str, T, Record]:
        """The entity ``add`` stores, through its constructor at version 1, and its record."""
        return new_record(self.spec, entity)

    async def add(self, entity: T) -> T:
        key, stored, record = self._prepare_new(entity)
        async with self._backend.locked():
            if self._row(key) is not None:
                raise AlreadyExists(self.spec.name, self.spec.id_field, key)
            self._check_write(key, record)
            self._store(key, record)
        return stored

    async def add_many(self, entities: Sequence[T]) -> list[T]:
        prepared = [self._prepare_new(e) for e in entities]
        async with self._backend.locked():
            # Check the whole batch (against the store and itself) before writing any of it.
            seen_keys: set[str] = set()
            seen_unique: set[tuple[tuple[str, ...], Any]] = set()
            for key, _, record in prepared:
                if key in seen_keys or self._row(key) is not None:
                    raise AlreadyExists(self.spec.name, self.spec.id_field, key)
                seen_keys.add(key)
                self._check_write(key, record)
                for fields, values in self._table.index_entries(record):
                    if (fields, values) in seen_unique:
                        value = values[0] if len(values) == 1 else values
                        raise AlreadyExists(self.spec.name, unique_label(fields), value)
                    seen_unique.add((fields, values))
            for key, _, record in prepared:
                self._store(key, record)
        return [stored for _, stored, _ in prepared]

    async def update(
        self,
        entity: T,
        *,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        key = entity_id(self.spec, entity)
        validated = through_domain(self.spec, entity)
        return await self._guarded_write(
            key,
            lambda _current: validated,
            version_of(self.spec, entity),
            conditions,
            rejection_message,
        )

    async def _guarded_write(
        self,
        key: str,
        change: Callable[[T], T],
        expected_version: int | None,
        conditions: FilterInput | None,
        rejection_message: str | None,
    ) -> T:
        tree = parse_conditions(self.spec, conditions)
        async with self._backend.locked():
            row = self._row(key)
            version_ok = (
                expected_version is None
                or self.spec.version_field is None
                or (row is not None and row.get(self.spec.version_field) == expected_version)
            )
            if row is None or not version_ok or not matches(row, tree):
                raise diagnose_write(self.spec, key, row, expected_version, rejection_message)
            updated = change(self._read(row))
            if entity_id(self.spec, updated) != key:
                raise ConcurrencyConflict(self.spec.name, key, expected_version)
            if self.spec.version_field is not None:
                updated = with_version(self.spec, updated, int(row[self.spec.version_field]) + 1)
            record = to_record(updated)
            self._check_write(key, record)
            self._store(key, record)
        return updated

    async def upsert(self, entity: T) -> T:
        key = entity_id(self.spec, entity)
        validated = through_domain(self.spec, entity)
        async with self._backend.locked():
            row = self._row(key)
            version = 1
            if row is not None and self.spec.version_field is not None:
                version = int(row[self.spec.version_field]) + 1
            stored = with_version(self.spec, validated, version)
            record = to_record(stored)
            self._check_write(key, record)
            self._store(key, record)
        return stored

    async def delete(
        self,
        id: str,
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> None:
        tree = parse_conditions(self.spec, conditions)
        async with self._backend.locked():
            row = self._row(id)
            version_ok = (
                expected_version is None
                or self.spec.version_field is None
                or (row is not None and row.get(self.spec.version_field) == expected_version)
            )
            if row is None or not version_ok or not matches(row, tree):
                raise diagnose_write(self.spec, id, row, expected_version, rejection_message)
            delete_rows(self._backend, self.spec, [id])

    async def delete_many(self, ids: Sequence[str]) -> int:
        async with self._backend.locked():
            keys = [key for key in dict.fromkeys(ids) if self._row(key) is not None]
            delete_rows(self._backend, self.spec, keys)
        return len(keys)
