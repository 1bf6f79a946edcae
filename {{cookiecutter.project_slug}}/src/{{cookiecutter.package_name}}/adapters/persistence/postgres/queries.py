"""One table's statements, compiled once: the fixed ones when the repository is made, the
ones that vary with a filter, a sort or a cursor once per shape (:mod:`.statements`).

Each method returns the SQL text and asyncpg's positional arguments. Rows are selected with
every column in table order (what :class:`~.rows.RowCodec` reads).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ....ports.query import SortField
from ..registry import EntitySpec
from .compiler import SqlCompiler
from .shapes import Clause, Part, bind
from .statements import (
    Compiled,
    Names,
    ShapeCache,
    compile_statement,
    copy_in,
    placeholders,
)

GUARD = "kit:guard"  # the caller's conditions, evaluated by update_fields' SELECT
Statement = tuple[str, Sequence[Any]]


def _split(names: Names, *parts: Part | None) -> list[Names]:
    """``names`` cut into one run per part, in order (an absent part gets none)."""
    runs, at = [], 0
    for part in parts:
        size = len(part.values) if part is not None else 0
        runs.append(names[at : at + size])
        at += size
    return runs


def _values(*parts: Part | None) -> tuple[Any, ...]:
    return tuple(v for part in parts if part is not None for v in part.values)


def _key(part: Part | None) -> Any:
    return None if part is None else part.key


class TableQueries:
    """The statements of one entity's table."""

    def __init__(self, spec: EntitySpec[Any], table: sa.Table, sql: SqlCompiler) -> None:
        self.spec = spec
        self.table = table
        self.sql = sql
        self.columns = [c.name for c in table.c]
        self._id = table.c[spec.id_field]
        self._version = table.c[spec.version_field] if spec.version_field else None
        self._shapes = ShapeCache()
        self._lookups: dict[tuple[str, bool], Compiled] = {}
        columns = placeholders(len(self.columns))  # one per column, in table order
        self._id_name = columns[self.columns.index(spec.id_field)]
        self.get_one = compile_statement(
            sa.select(table).where(*self.live(self._id == bind("key"))), ["key"]
        )
        keys = bind("keys", ARRAY(self._id.type))
        self.get_in = compile_statement(
            sa.select(table).where(*self.live(self._id == sa.any_(keys))), ["keys"]
        )
        self.delete_in = compile_statement(
            sa.delete(table).where(*self.live(self._id == sa.any_(keys))), ["keys"]
        )
        self.purge = compile_statement(sa.delete(table).where(sql.expired()))
        values = {c.name: bind(n, c.type) for c, n in zip(table.c, columns, strict=True)}
        self.insert = compile_statement(sa.insert(table).values(values), columns)
        self.copy = copy_in(table)  # add_many: PostgreSQL inserts a COPY's rows in bulk
        self.upsert = compile_statement(self._upsert(values), columns)
        # update_fields: every column but the id, guarded by the id and the version read
        written = {k: v for k, v in values.items() if k != spec.id_field}
        guard = [self._id == bind(self._id_name)]
        if self._version is not None:
            guard.append(self._version == bind("expected", self._version.type))
        rewrite = sa.update(table).where(*guard).values(written).returning(*table.c)
        self.rewrite = compile_statement(rewrite, [*columns, "expected"])

    def live(self, *clauses: Clause | None) -> list[Clause]:
        """``clauses`` and the expiry filter, without the absent ones."""
        return [c for c in (self.sql.live(), *clauses) if c is not None]

    def _upsert(self, values: dict[str, sa.BindParameter[Any]]) -> Any:
        insert = pg_insert(self.table).values(values)
        replace: dict[str, Any] = {
            name: insert.excluded[name] for name in values if name != self.spec.id_field
        }
        if self._version is not None:
            bumped = self._version + 1
            live = self.sql.live()
            # An expired row is gone as far as the port is concerned: start again at 1.
            replace[self._version.name] = (
                bumped if live is None else sa.case((live, bumped), else_=sa.literal(1))
            )
        return insert.on_conflict_do_update(index_elements=[self._id], set_=replace).returning(
            *self.table.c
        )

    def shaped(self, key: Any, values: Sequence[Any], build: Callable[[Names], Any]) -> Statement:
        return self._shapes.get(key, values, build)

    # --- reads -------------------------------------------------------------------------------

    def lookup(self, field: str, ordered: bool) -> Compiled:
        """The first live row whose scalar ``field`` equals ``p0`` (by id when ``ordered``)."""
        compiled = self._lookups.get((field, ordered))
        if compiled is None:
            target = self.sql.target(field).sql
            statement = sa.select(self.table).where(*self.live(target == bind("p0")))
            if ordered:
                statement = statement.order_by(*self.sql.order_by([SortField(self._id.name)]))
            compiled = compile_statement(statement.limit(1), ["p0"])
            self._lookups[(field, ordered)] = compiled
        return compiled

    def select(
        self,
        where: Part | None,
        sort: Sequence[SortField],
        after: Sequence[Any] | None,
        offset: int,
        limit: int | None,
    ) -> Statement:
        """Rows matching ``where`` in ``sort`` order, after the keyset ``after``, skipping
        ``offset``, at most ``limit`` (the caller asks one more to know whether there is more).
        """
        resume = self.sql.after(sort, after) if after is not None else None
        paging = ((offset,) if offset else ()) + ((limit,) if limit is not None else ())
        sorting = tuple((item.field, item.descending) for item in sort)
        key = ("select", _key(where), sorting, _key(resume), bool(offset), limit is not None)

        def build(names: Names) -> Any:
            on_where, on_resume = _split(names, where, resume)
            clauses = self.live(
                where.build(on_where) if where is not None else None,
                resume.build(on_resume) if resume is not None else None,
            )
            statement = sa.select(self.table).where(*clauses).order_by(*self.sql.order_by(sort))
            rest = list(names[len(on_where) + len(on_resume) :])
            if offset:
                statement = statement.offset(bind(rest.pop(0), sa.Integer()))
            if limit is not None:
                statement = statement.limit(bind(rest.pop(0), sa.Integer()))
            return statement

        return self.shaped(key, (*_values(where, resume), *paging), build)

    def count(self, where: Part | None) -> Statement:
        def build(names: Names) -> Any:
            clauses = self.live(where.build(names) if where is not None else None)
            return sa.select(sa.func.count()).select_from(self.table).where(*clauses)

        return self.shaped(("count", _key(where)), _values(where), build)

    def exists(self, where: Part | None) -> Statement:
        def build(names: Names) -> Any:
            clauses = self.live(where.build(names) if where is not None else None)
            inner = sa.select(sa.literal(1)).select_from(self.table).where(*clauses).limit(1)
            return sa.select(sa.exists(inner))

        return self.shaped(("exists", _key(where)), _values(where), build)

    def distinct(self, field: str, where: Part | None) -> Statement:
        target = self.sql.target(field)

        def build(names: Names) -> Any:
            value = target.sql.label("value")
            clauses = self.live(
                where.build(names) if where is not None else None, target.sql.is_not(None)
            )
            return sa.select(value).distinct().where(*clauses).order_by(value)

        return self.shaped(("distinct", field, _key(where)), _values(where), build)

    def guarded_read(self, key: str, condition: Part | None, *, lock: bool) -> Statement:
        """The live row with whether ``condition`` holds on it; ``lock``: ``FOR UPDATE``."""

        def build(names: Names) -> Any:
            columns: list[Any] = list(self.table.c)
            if condition is not None:
                test = condition.build(names[1:])
                columns.append(sa.case((test, sa.true()), else_=sa.false()).label(GUARD))
            statement = sa.select(*columns).where(*self.live(self._id == bind(names[0])))
            return statement.with_for_update() if lock else statement

        shape = ("guarded read", _key(condition), lock)
        return self.shaped(shape, (key, *_values(condition)), build)

    # --- guarded writes ----------------------------------------------------------------------

    def _guard(self, names: Names, condition: Part | None, versioned: bool) -> list[Clause]:
        """The live row with id ``names[0]``, where ``condition`` holds and, when
        ``versioned``, whose version is the last name."""
        clauses: list[Clause | None] = [self._id == bind(names[0])]
        if condition is not None:
            clauses.append(condition.build(names[1 : 1 + len(condition.values)]))
        if versioned and self._version is not None:
            clauses.append(self._version == bind(names[-1]))
        return self.live(*clauses)

    def update(
        self, row: Sequence[Any], condition: Part | None, expected_version: int | None
    ) -> Statement:
        """Every column but the id from ``row`` (the version bumped), ``RETURNING`` the row."""
        versioned = expected_version is not None and self._version is not None
        width = len(self.columns)

        def build(names: Names) -> Any:
            columns, guard = names[:width], names[width:]
            values: dict[str, Any] = {
                c.name: bind(n, c.type)
                for c, n in zip(self.table.c, columns, strict=True)
                if c.name != self.spec.id_field
            }
            if self._version is not None:
                values[self._version.name] = self._version + 1
            clauses = self._guard(guard, condition, versioned)
            return sa.update(self.table).where(*clauses).values(values).returning(*self.table.c)

        key = row[self.columns.index(self.spec.id_field)]
        version = (expected_version,) if versioned else ()
        values = (*row, key, *_values(condition), *version)
        return self.shaped(("update", _key(condition), versioned), values, build)

    def delete(self, key: str, condition: Part | None, expected_version: int | None) -> Statement:
        versioned = expected_version is not None and self._version is not None

        def build(names: Names) -> Any:
            return sa.delete(self.table).where(*self._guard(names, condition, versioned))

        version = (expected_version,) if versioned else ()
        values = (key, *_values(condition), *version)
        return self.shaped(("delete", _key(condition), versioned), values, build)
