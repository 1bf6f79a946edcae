"""The PostgreSQL repository: one SQL statement per operation where the port allows it.

Round trips per operation (outside a unit of work; a single statement runs in autocommit on a
pooled connection, as a statement asyncpg prepared on that connection before):

- ``get``, ``get_by``, ``get_many``, ``find``, ``count``, ``exists``, ``distinct``: 1.
- ``add``, ``update``, ``upsert``, ``delete``, ``delete_many``: 1. The entity is rebuilt
  through its constructor first (``through_domain``: validated and normalised), then written
  by one ``INSERT``, guarded ``UPDATE ... RETURNING``, ``INSERT ... ON CONFLICT (id) DO
  UPDATE`` or guarded ``DELETE``. A refused guarded write reads once more to say why
  (``NotFound``, ``ConcurrencyConflict`` or ``ConditionFailed``).
- ``add_many``: 1, whatever the number of rows: one ``COPY ... FROM STDIN (FORMAT binary)``
  (asyncpg sends the statement and the rows together). A COPY is all-or-nothing on its own,
  and PostgreSQL inserts its rows in bulk: from about 5 rows on it is cheaper than an
  ``INSERT`` executed for each row, and at 1,000 rows it takes about two thirds of the time
  (docs/performance.md).
- ``update_fields`` with ``expected_version`` (a compare-and-set): 2 in autocommit, the live
  row read (the caller's conditions evaluated in the same statement), the merged values
  through the entity's constructor, ``UPDATE ... SET <every column> ... RETURNING`` guarded
  by the version read. No lock is held in between, so racing callers fail fast with
  ``ConcurrencyConflict`` rather than each holding a pooled connection in the row's lock
  queue. Without ``expected_version``: 4, BEGIN, ``SELECT ... FOR UPDATE``, the same UPDATE,
  COMMIT; the row lock means nothing can change it in between. Either way a refusal (missing
  row, stale version, false condition, a value the domain rejects) is known before the
  UPDATE and leaves the row and its version untouched.
- Inside a unit of work (``backend.transaction()``) every operation runs on the unit's
  connection. Reads cost the same; a write is wrapped in SAVEPOINT ... RELEASE (2 more round
  trips; ``update_fields`` uses them instead of BEGIN/COMMIT), so a refused write undoes only
  itself, the unit stays usable, and the original error propagates. The unit itself adds
  BEGIN and COMMIT.

The database does the work, and keeps the integrity:

- Unique fields and ``unique_together`` constraints are unique indexes: the database
  arbitrates races, and a violation becomes ``AlreadyExists`` naming the fields (``a+b``).
- Enforced relations are foreign keys: a child pointing at nothing is ``ReferenceNotFound``,
  deleting a target ``ON DELETE RESTRICT`` still points at is ``StillReferenced``; cascades and
  ``SET NULL`` run in the database, atomically with the delete (the children's version is not
  bumped by ``SET NULL``).
- Filters, sorts, keyset cursors, counts and distinct values all run in the database.
- Rows past their expiry (``ttl_field``) are invisible to every read and write; writes that
  collide with an expired row purge the expired rows once and retry.

Statements are compiled once per shape (:mod:`.queries`); where each runs (the unit's
connection, a transaction, autocommit) is decided in :mod:`.execution`; how a refusal becomes
a kit error, in :mod:`.errors`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from ....ports.errors import AlreadyExists, ConcurrencyConflict, InvalidCursor, NotFound
from ....ports.query import (
    Condition,
    FilterInput,
    Page,
    PreparedQuery,
    Query,
    SortField,
    keyset_cursor,
    parse_sort,
)
from ....ports.repository import Repository
from ..codec import revive
from ..common import (
    DerivedReads,
    check_changes,
    diagnose_write,
    entity_id,
    new_record,
    parse_conditions,
    prepare,
    through_domain_record,
    validate_field,
    version_of,
)
from ..domain_pass import domain_pass
from ..evaluation import get_path
from ..registry import EntitySpec
from .compiler import SqlCompiler
from .execution import StatementRunner
from .queries import GUARD, TableQueries
from .rows import RowCodec, RowsView, as_dict
from .schema import unique_fields

if TYPE_CHECKING:
    from .backend import PostgresBackend

T = TypeVar("T")
R = TypeVar("R")


class PostgresRepository(DerivedReads[T]):
    def __init__(self, spec: EntitySpec[T], table: sa.Table, backend: PostgresBackend) -> None:
        self.spec = spec
        self.table = table
        self._sql = SqlCompiler(spec, table)
        self._q = TableQueries(spec, table, self._sql)
        self._rows = RowCodec(spec, self._q.columns)
        self._constructor = domain_pass(spec)
        self._db = StatementRunner(spec, backend, unique_fields(table))
        self._by_id: tuple[SortField, ...] = (SortField(spec.id_field),)

    @property
    def entity_name(self) -> str:
        return self.spec.name

    # --- reads -------------------------------------------------------------------------------

    async def _stored(self, key: str) -> dict[str, Any] | None:
        get = self._q.get_one
        rows = await self._db.fetch(get.sql, get.args((key,)))
        return as_dict(rows[0]) if rows else None

    async def get(self, id: str) -> T | None:
        get = self._q.get_one
        rows = await self._db.fetch(get.sql, get.args((id,)))
        return self._rows.read(rows[0]) if rows else None

    async def get_many(self, ids: Sequence[str]) -> list[T]:
        keys = list(dict.fromkeys(ids))
        if not keys:
            return []
        get = self._q.get_in
        rows = await self._db.fetch(get.sql, get.args((keys,)))
        read = self._rows.read
        by_key = {row[self.spec.id_field]: row for row in rows}
        return [read(by_key[k]) for k in keys if k in by_key]

    async def get_by(self, field: str, value: Any) -> T | None:
        # {field: value} is {field: {"eq": value}} for a scalar (and the parser's short path)
        scalar = value is None or type(value) in (str, int, float, bool)
        tree = parse_conditions(self.spec, {field: value} if scalar else {field: {"eq": value}})
        if isinstance(tree, Condition) and tree.value is not None:
            target = self._sql.target(tree.field)
            if target.mode == "scalar":  # the usual lookup: one statement per field
                # A unique field matches one live row at most: no order to pick the first.
                lookup = self._q.lookup(tree.field, ordered=tree.field not in self.spec.unique)
                rows = await self._db.fetch(lookup.sql, lookup.args((target.bind(tree.value),)))
                return self._rows.read(rows[0]) if rows else None
        sql, args = self._q.select(self._sql.where(tree), self._by_id, None, 0, 1)
        rows = await self._db.fetch(sql, args)
        return self._rows.read(rows[0]) if rows else None

    async def find(self, query: Query | None = None) -> Page[T]:
        prepared = prepare(self.spec, query)
        if prepared.payload is not None:
            raise InvalidCursor("malformed cursor")
        limit = prepared.limit
        where = self._sql.where(prepared.filter)
        sql, args = self._q.select(
            where,
            prepared.sort,
            prepared.after,
            prepared.offset,
            None if limit is None else limit + 1,  # one more says "there is more"
        )
        return self._page(await self._db.fetch(sql, args), prepared)

    def _page(self, rows: list[Any], prepared: PreparedQuery) -> Page[T]:
        read = self._rows.read
        limit = prepared.limit
        if limit is None or len(rows) <= limit or limit == 0:
            return Page([read(row) for row in rows[:limit]])
        rows = rows[:limit]
        last = as_dict(rows[-1])
        cursor = keyset_cursor(prepared, [get_path(last, s.field) for s in prepared.sort])
        return Page([read(row) for row in rows], cursor, prepared.offset + len(rows))

    async def count(self, filter: FilterInput | None = None) -> int:
        sql, args = self._q.count(self._sql.where(parse_conditions(self.spec, filter)))
        return int(await self._db.fetchval(sql, args))

    async def exists(self, filter: FilterInput | None = None) -> bool:
        sql, args = self._q.exists(self._sql.where(parse_conditions(self.spec, filter)))
        return bool(await self._db.fetchval(sql, args))

    async def distinct(self, field: str, filter: FilterInput | None = None) -> list[Any]:
        validate_field(self.spec, field)
        parse_sort(field, self.spec.schema)  # distinct values must be orderable scalars
        where = self._sql.where(parse_conditions(self.spec, filter))
        sql, args = self._q.distinct(field, where)
        info = self._sql.target(field).info
        return [revive(info, row[0]) for row in await self._db.fetch(sql, args)]

    # --- writes ------------------------------------------------------------------------------

    def _new_record(self, entity: T) -> tuple[T, tuple[Any, ...]]:
        """The entity as its constructor builds it, at version 1, and its row's values."""
        entity_id(self.spec, entity)
        # The rebuilt entity's own values, not copies: they are encoded before the write returns.
        built = self._constructor.rebuild(self.spec, entity, version=1, copy=False)
        if built is None:
            _, stored, record = new_record(self.spec, entity)
            return stored, self._rows.args(record)
        stored, values = built
        entity_id(self.spec, stored)
        return stored, self._rows.args_of(values)

    async def _insert_retrying(self, action: Callable[[], Awaitable[R]]) -> R:
        """Run an insert; if it hit an expired row's id or unique value, purge and retry once."""
        try:
            return await action()
        except AlreadyExists:
            if self.spec.ttl_field is None or not await self.purge_expired():
                raise
            return await action()

    async def add(self, entity: T) -> T:
        stored, row = self._new_record(entity)
        insert = self._q.insert
        args = insert.args(row)
        written = RowsView(self._q.columns, [row])
        await self._insert_retrying(lambda: self._db.execute(insert.sql, args, written))
        return stored

    async def add_many(self, entities: Sequence[T]) -> list[T]:
        built = [self._new_record(e) for e in entities]
        if not built:
            return []
        rows = [row for _, row in built]
        copy = self._q.copy
        written = RowsView(copy.columns, rows)
        await self._insert_retrying(lambda: self._db.copy(copy, rows, written))
        return [stored for stored, _ in built]

    async def _diagnose(
        self, key: str, expected_version: int | None, rejection_message: str | None
    ) -> Exception:
        stored = await self._stored(key)
        return diagnose_write(self.spec, key, stored, expected_version, rejection_message)

    async def update(
        self,
        entity: T,
        *,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        stored, record = through_domain_record(self.spec, entity)
        key = entity_id(self.spec, stored)
        expected_version = version_of(self.spec, stored)
        condition = self._sql.where(parse_conditions(self.spec, conditions))
        row = self._rows.args(record)
        sql, args = self._q.update(row, condition, expected_version)
        written = RowsView(self._q.columns, [row])[0]
        rows = await self._db.fetch_written(sql, args, written)
        if not rows:
            raise await self._diagnose(key, expected_version, rejection_message)
        return self._rows.read(rows[0])  # type: ignore[no-any-return]

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
        condition = self._sql.where(parse_conditions(self.spec, conditions))
        version = self.spec.version_field
        # With an expected version, a compare-and-set: the row read, then one UPDATE guarded by
        # that version, in autocommit. No lock is held in between, so callers racing on one row
        # (a throttle counter under attack) fail fast instead of queueing on its lock with a
        # pooled connection each. Without one, the row is locked while the change is merged.
        swap = expected_version is not None and version is not None
        read_sql, read_args = self._q.guarded_read(id, condition, lock=not swap)
        rewrite = self._q.rewrite
        written: list[dict[str, Any]] = []

        async def read(conn: Any) -> dict[str, Any] | None:
            found = await conn.fetchrow(read_sql, *read_args)
            return None if found is None else as_dict(found)

        async def work(conn: Any) -> Any:
            stored = await read(conn)
            if (
                stored is None
                or not stored.pop(GUARD, True)
                or (
                    expected_version is not None
                    and version is not None
                    and stored[version] != expected_version
                )
            ):
                raise diagnose_write(self.spec, id, stored, expected_version, rejection_message)
            # The merged values through the entity's constructor: validated and normalised.
            merged = through_domain_record(self.spec, {**stored, **changes})[1]
            if version is not None:
                merged[version] = stored[version] + 1
            row = self._rows.args(merged)
            written.append(RowsView(self._q.columns, [row])[0])
            expected = stored[version] if version is not None else None
            updated = await conn.fetchrow(rewrite.sql, *rewrite.args((*row, expected)))
            if updated is None:  # the compare-and-set lost: changed or deleted since read
                if await read(conn) is None:
                    raise NotFound(self.spec.name, id)
                raise ConcurrencyConflict(self.spec.name, id, expected_version)
            return updated

        row = await self._db.run(work, records=written, atomic=not swap, write=True)
        return self._rows.read(row)  # type: ignore[no-any-return]

    async def upsert(self, entity: T) -> T:
        _, row = self._new_record(entity)
        upsert = self._q.upsert
        written = RowsView(self._q.columns, [row])[0]
        rows = await self._insert_retrying(
            lambda: self._db.fetch_written(upsert.sql, upsert.args(row), written)
        )
        return self._rows.read(rows[0])  # type: ignore[no-any-return]

    async def delete(
        self,
        id: str,
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> None:
        condition = self._sql.where(parse_conditions(self.spec, conditions))
        sql, args = self._q.delete(id, condition, expected_version)
        if not await self._db.execute(sql, args, deleting=[id]):
            raise await self._diagnose(id, expected_version, rejection_message)

    async def delete_many(self, ids: Sequence[str]) -> int:
        keys = list(dict.fromkeys(ids))
        if not keys:
            return 0
        delete = self._q.delete_in
        return await self._db.execute(delete.sql, delete.args((keys,)), deleting=keys)

    async def purge_expired(self) -> int:
        """Delete the rows past their expiry; returns how many (0 without a ``ttl_field``).

        Reads never see expired rows; call this from a periodic job to reclaim their space.
        An expired row that enforced references still point at under ``restrict`` stays
        (``StillReferenced``) until they are gone.
        """
        if self.spec.ttl_field is None:
            return 0
        purge = self._q.purge
        return await self._db.execute(purge.sql, purge.args(()), deleting=[])


def _check(repository: PostgresRepository[Any]) -> Repository[Any]:
    return repository  # mypy proves the adapter satisfies the port
