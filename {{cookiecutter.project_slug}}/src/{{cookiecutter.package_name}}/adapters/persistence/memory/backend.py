"""The in-process backend: one table per entity for the life of the process, one lock over
all of them, and the undo log that lets a unit of work take its writes back.

It also holds the row changes that end every write, made by a caller holding the lock:
storing a record (the table's indexes follow it, see :mod:`.indexes`), and deleting rows with
every enforced relation's ``on_delete`` rule, checked in full before anything changes. The
repository (:mod:`.repository`) makes its checks, then writes through them.

Stored rows are never changed in place, only replaced: the undo log keeps the replaced row
itself, not a copy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

from ....ports.errors import StillReferenced
from ....ports.query import Condition, Op
from ....ports.repository import Repository
from ..common import expired, referencing
from ..registry import EntitySpec, OnDelete
from .indexes import Record, Table

__all__ = ["MemoryBackend", "Table", "Unit", "delete_rows", "live_row", "store_row"]

T = TypeVar("T")


class Unit:
    """An open unit of work: it holds the backend lock, and can undo what it wrote."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        self.undo: list[tuple[Table, str, Record | None]] = []


class Locked:
    """``async with backend.locked()``: the backend lock, unless this task's unit of work
    already holds it (a class, not a generator: it runs on every write)."""

    __slots__ = ("_backend", "_held")

    def __init__(self, backend: MemoryBackend) -> None:
        self._backend = backend
        self._held = False

    async def __aenter__(self) -> None:
        if self._backend.unit is None:
            await self._backend.lock.acquire()
            self._held = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._held:
            self._held = False
            self._backend.lock.release()


class MemoryBackend:
    """Holds one table per entity for the life of the process.

    One lock guards every table, so a check and the write it allows (a reference, a unique
    value, a version) happen with nothing in between, across entities too.
    """

    name = "memory"

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
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
            table = self._tables[spec.collection] = Table(self.lock, spec)
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

    @property
    def unit(self) -> Unit | None:
        """This task's open unit of work, if any."""
        return self._unit.get()

    def locked(self) -> Locked:
        """The backend lock, unless this task's unit of work already holds it."""
        return Locked(self)

    def record_undo(self, table: Table, key: str) -> None:
        unit = self._unit.get()
        if unit is not None:
            unit.undo.append((table, key, table.rows.get(key)))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Writes apply under the lock as they are made; an exception (or a cancellation)
        replays the undo log backwards before the lock is released."""
        if self._unit.get() is not None:
            raise RuntimeError("units of work do not nest")
        async with self.lock:
            unit = Unit(self)
            token = self._unit.set(unit)
            try:
                yield
            except BaseException:
                for table, key, previous in reversed(unit.undo):
                    table.replace(key, previous)
                raise
            finally:
                self._unit.reset(token)


# --- row changes (the caller holds the backend lock) -------------------------------------------


def live_row(spec: EntitySpec[Any], table: Table, key: str) -> Record | None:
    """The row at ``key`` unless it is missing or past its expiry."""
    row = table.rows.get(key)
    if row is None or (spec.ttl_field is not None and expired(spec, row, dt.datetime.now(dt.UTC))):
        return None
    return row


def store_row(backend: MemoryBackend, table: Table, key: str, record: Record) -> None:
    """Store ``record`` itself at ``key`` (the caller hands over a record it shares with
    nobody), logged for the running unit of work to undo."""
    backend.record_undo(table, key)
    table.replace(key, record)


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
            table.replace(key, None)


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
        # through the child table's index on the reference when it has one
        holders, _ = table.candidates(Condition(rel.local_field, Op.IN, tuple(new)))
        children = sorted(
            key
            for key in holders
            if table.rows[key].get(rel.local_field) in new
            and live_row(child, table, key) is not None
        )
        if not children:
            continue
        if rel.on_delete is OnDelete.RESTRICT:
            holder = table.rows[children[0]][rel.local_field]
            raise StillReferenced(spec.name, holder, f"{child.name}.{rel.local_field}")
        if rel.on_delete is OnDelete.CASCADE:
            _plan_delete(backend, child, set(children), deletions, nullify)
        else:
            nullify.extend((child, key, rel.local_field) for key in children)
