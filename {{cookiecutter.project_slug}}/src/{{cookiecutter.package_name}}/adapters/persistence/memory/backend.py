"""The in-process backend: one table per entity for the life of the process, one lock over
all of them, and the undo log that lets a unit of work take its writes back.

It also holds the row changes that end every write, made by a caller holding the lock:
storing a record (its unique index entries follow it), and deleting rows with every enforced
relation's ``on_delete`` rule, checked in full before anything changes. The repository
(:mod:`.repository`) makes its checks, then writes through them.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from ....ports.errors import StillReferenced
from ....ports.repository import Repository
from ..common import expired, referencing
from ..registry import EntitySpec, OnDelete

T = TypeVar("T")


class Table:
    def __init__(self, lock: asyncio.Lock, unique_keys: tuple[tuple[str, ...], ...]) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        # unique constraint (its fields) -> values -> the key of the row holding them
        self.unique: dict[tuple[str, ...], dict[tuple[Any, ...], str]] = {}
        self.unique_keys = unique_keys
        self.lock = lock  # the backend's: references and units of work span tables

    def index_entries(self, record: Mapping[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
        """(constraint, values) for every unique constraint whose values are all non-null."""
        entries = []
        for fields in self.unique_keys:
            values = tuple(record.get(f) for f in fields)
            if all(v is not None for v in values):
                entries.append((fields, values))
        return entries


class Unit:
    """An open unit of work: it holds the backend lock, and can undo what it wrote."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        self.undo: list[tuple[Table, str, dict[str, Any] | None]] = []


class MemoryBackend:
    """Holds one table per entity for the life of the process.

    One lock guards every table, so a check and the write it allows (a reference, a unique
    value, a version) happen with nothing in between, across entities too.
    """

    name = "memory"

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._tables: dict[str, Table] = {}
        self._specs: dict[str, EntitySpec[Any]] = {}
        self._unit: ContextVar[Unit | None] = ContextVar(f"memory-unit-{id(self)}", default=None)

    async def start(self, specs: Sequence[EntitySpec[Any]], *, create_schema: bool) -> None:
        for spec in specs:
            self._specs[spec.name] = spec
            self.table(spec)

    async def close(self) -> None:
        """Nothing to release; the data lives as long as the backend object."""

    async def ping(self) -> None:
        """Always reachable."""

    def table(self, spec: EntitySpec[Any]) -> Table:
        table = self._tables.get(spec.collection)
        if table is None:
            table = self._tables[spec.collection] = Table(self._lock, spec.unique_keys)
        return table

    def repository(self, spec: EntitySpec[T]) -> Repository[T]:
        from .repository import MemoryRepository

        self._specs.setdefault(spec.name, spec)
        return MemoryRepository(spec, self.table(spec), self)

    def spec(self, name: str) -> EntitySpec[Any]:
        return self._specs[name]

    @property
    def specs(self) -> list[EntitySpec[Any]]:
        return list(self._specs.values())

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[Unit | None]:
        """The backend lock, unless this task's unit of work already holds it."""
        unit = self._unit.get()
        if unit is not None:
            yield unit
            return
        async with self._lock:
            yield None

    def record_undo(self, table: Table, key: str) -> None:
        unit = self._unit.get()
        if unit is not None:
            previous = table.rows.get(key)
            unit.undo.append((table, key, None if previous is None else copy.deepcopy(previous)))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Writes apply under the lock as they are made; an exception (or a cancellation)
        replays the undo log backwards before the lock is released."""
        if self._unit.get() is not None:
            raise RuntimeError("units of work do not nest")
        async with self._lock:
            unit = Unit(self)
            token = self._unit.set(unit)
            try:
                yield
            except BaseException:
                for table, key, previous in reversed(unit.undo):
                    restore(table, key, previous)
                raise
            finally:
                self._unit.reset(token)


def restore(table: Table, key: str, previous: dict[str, Any] | None) -> None:
    """Put ``previous`` at ``key`` (``None``: no row), the unique index following it."""
    current = table.rows.pop(key, None)
    if current is not None:
        for fields, values in table.index_entries(current):
            if table.unique.get(fields, {}).get(values) == key:
                del table.unique[fields][values]
    if previous is not None:
        table.rows[key] = previous
        for fields, values in table.index_entries(previous):
            table.unique.setdefault(fields, {})[values] = key


# --- row changes (the caller holds the backend lock) -------------------------------------------


def live_row(spec: EntitySpec[Any], table: Table, key: str) -> dict[str, Any] | None:
    """The row at ``key`` unless it is missing or past its expiry."""
    row = table.rows.get(key)
    if row is None or expired(spec, row, dt.datetime.now(dt.UTC)):
        return None
    return row


def store_row(backend: MemoryBackend, table: Table, key: str, record: dict[str, Any]) -> None:
    """Store a copy of ``record`` at ``key``, logged for the running unit of work to undo."""
    backend.record_undo(table, key)
    restore(table, key, copy.deepcopy(record))


def delete_rows(backend: MemoryBackend, spec: EntitySpec[Any], keys: Sequence[str]) -> None:
    """Delete ``keys`` of ``spec`` and apply every enforced relation's ``on_delete`` rule:
    everything is checked first (restrict), then everything is changed."""
    deletions: dict[str, tuple[EntitySpec[Any], set[str]]] = {}
    nullify: list[tuple[EntitySpec[Any], str, str]] = []  # (child spec, key, field)
    _plan_delete(backend, spec, set(keys), deletions, nullify)
    for child, key, field_name in nullify:
        if key in deletions.get(child.name, (child, set()))[1]:
            continue  # deleted anyway
        table = backend.table(child)
        store_row(backend, table, key, {**table.rows[key], field_name: None})
    for target, doomed in deletions.values():
        table = backend.table(target)
        for key in doomed:
            backend.record_undo(table, key)
            restore(table, key, None)


def _plan_delete(
    backend: MemoryBackend,
    spec: EntitySpec[Any],
    keys: set[str],
    deletions: dict[str, tuple[EntitySpec[Any], set[str]]],
    nullify: list[tuple[EntitySpec[Any], str, str]],
) -> None:
    already = deletions.setdefault(spec.name, (spec, set()))[1]
    new = keys - already
    if not new:
        return
    already.update(new)
    for child, rel in referencing(backend.specs, spec.name):
        table = backend.table(child)
        children = [
            key
            for key, row in table.rows.items()
            if row.get(rel.local_field) in new and live_row(child, table, key) is not None
        ]
        if not children:
            continue
        if rel.on_delete is OnDelete.RESTRICT:
            holder = table.rows[children[0]][rel.local_field]
            raise StillReferenced(spec.name, holder, f"{child.name}.{rel.local_field}")
        if rel.on_delete is OnDelete.CASCADE:
            _plan_delete(backend, child, set(children), deletions, nullify)
        else:
            nullify.extend((child, key, rel.local_field) for key in children)
