"""The in-process backend: the reference implementation of every repository rule.

Every write runs under the backend's one lock and checks id, unique constraints, version,
conditions and enforced references before it changes anything, so concurrent coroutines see
the same guarantees a database gives. Deleting a target applies the ``on_delete`` rules of
every relation pointing at it under the same lock. Stored records are deep copies: callers
never share state with the store. For one process only: tests, demos, scripts.

This module holds the repository; the backend it runs on (tables, lock, units of work, row
changes) is in :mod:`.backend`, and re-exported here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from functools import cmp_to_key
from typing import Any, TypeVar

from ....ports.errors import AlreadyExists, ConcurrencyConflict, InvalidCursor, ReferenceNotFound
from ....ports.query import FilterInput, Page, Query, parse_sort
from ..codec import from_record, revive, to_record
from ..common import (
    DerivedReads,
    apply_changes,
    build_page,
    check_changes,
    diagnose_write,
    entity_id,
    expired,
    new_entity,
    parse_conditions,
    prepare,
    through_domain,
    unique_label,
    validate_field,
    version_of,
    with_version,
)
from ..evaluation import (
    after_keyset,
    compare_values,
    compile_filter,
    first_records,
    get_path,
    matches,
    sort_records,
)
from ..registry import EntitySpec
from .backend import MemoryBackend, Table, delete_rows, live_row, store_row

__all__ = ["MemoryBackend", "MemoryRepository"]

T = TypeVar("T")


class MemoryRepository(DerivedReads[T]):
    def __init__(self, spec: EntitySpec[T], table: Table, backend: MemoryBackend) -> None:
        self.spec = spec
        self._table = table
        self._backend = backend

    @property
    def entity_name(self) -> str:
        return self.spec.name

    # --- reads -------------------------------------------------------------------------------

    def _live(self) -> list[dict[str, Any]]:
        now = dt.datetime.now(dt.UTC)
        return [r for r in self._table.rows.values() if not expired(self.spec, r, now)]

    def _row(self, key: str) -> dict[str, Any] | None:
        row = self._table.rows.get(key)
        if row is None or expired(self.spec, row, dt.datetime.now(dt.UTC)):
            return None
        return row

    def _revive(self, record: dict[str, Any]) -> T:
        # ``from_record`` builds new containers all the way down (``revive`` copies lists,
        # sets and dicts), so the entity shares nothing with the stored record: no deepcopy.
        return from_record(self.spec.entity, record)

    async def get(self, id: str) -> T | None:
        row = self._row(id)
        return None if row is None else self._revive(row)

    async def get_many(self, ids: Sequence[str]) -> list[T]:
        result: list[T] = []
        for key in dict.fromkeys(ids):
            row = self._row(key)
            if row is not None:
                result.append(self._revive(row))
        return result

    async def get_by(self, field: str, value: Any) -> T | None:
        return await self.find_one({field: {"eq": value}})

    def _matching(self, filter: FilterInput | None) -> list[dict[str, Any]]:
        test = compile_filter(parse_conditions(self.spec, filter))
        return [r for r in self._live() if test(r)]

    async def find(self, query: Query | None = None) -> Page[T]:
        prepared = prepare(self.spec, query)
        if prepared.payload is not None:
            raise InvalidCursor("this cursor was not issued by this backend")
        test = compile_filter(prepared.filter)
        rows = [r for r in self._live() if test(r)]
        if prepared.after is not None:
            rows = after_keyset(rows, prepared.sort, prepared.after)
        if prepared.limit is None:
            rows = sort_records(rows, prepared.sort)[prepared.offset :]
        else:
            # Only the page (and one more row) is ordered, not every matching row.
            end = prepared.offset + prepared.limit + 1
            rows = first_records(rows, prepared.sort, end)[prepared.offset :]
        return build_page(self.spec, rows, prepared, self._revive)

    async def count(self, filter: FilterInput | None = None) -> int:
        return len(self._matching(filter))

    async def exists(self, filter: FilterInput | None = None) -> bool:
        test = compile_filter(parse_conditions(self.spec, filter))
        return any(test(r) for r in self._live())

    async def distinct(self, field: str, filter: FilterInput | None = None) -> list[Any]:
        validate_field(self.spec, field)
        parse_sort(field, self.spec.schema)  # distinct values must be orderable scalars
        info = self.spec.schema.resolve(field)
        assert info is not None
        seen: dict[Any, None] = {}
        for row in self._matching(filter):
            value = get_path(row, field)
            if value is not None:
                seen.setdefault(value, None)
        values = [revive(info, v) for v in seen]
        return sorted(values, key=cmp_to_key(compare_values))

    # --- checks (under the backend lock) -------------------------------------------------------

    def _check_unique(self, record: Mapping[str, Any], own_key: str | None) -> None:
        for fields, values in self._table.index_entries(record):
            holder = self._table.unique.get(fields, {}).get(values)
            if holder is not None and holder != own_key and self._row(holder) is not None:
                value = values[0] if len(values) == 1 else values
                raise AlreadyExists(self.spec.name, unique_label(fields), value)

    def _check_references(self, record: Mapping[str, Any]) -> None:
        for rel in self.spec.references.values():
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

    def _store(self, key: str, record: dict[str, Any]) -> None:
        store_row(self._backend, self._table, key, record)

    def _prepare_new(self, entity: T) -> tuple[str, T, dict[str, Any]]:
        stored = new_entity(self.spec, entity)
        return entity_id(self.spec, stored), stored, to_record(stored)

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

    async def update_fields(
        self,
        id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        check_changes(self.spec, changes)
        return await self._guarded_write(
            id,
            lambda current: apply_changes(self.spec, current, changes),
            expected_version,
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
            updated = change(self._revive(row))
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
