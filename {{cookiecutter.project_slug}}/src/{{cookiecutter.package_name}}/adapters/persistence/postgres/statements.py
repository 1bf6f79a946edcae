"""SQL compiled once per statement shape, run by asyncpg as a prepared statement.

SQLAlchemy builds and compiles every statement (it stays the schema and the SQL compiler);
it does so once per *shape*: the same SQL text with other values. Building a SQLAlchemy
expression and looking it up in SQLAlchemy's own cache costs more than the round trip it
feeds, so a repository asks for a statement by a key it computes cheaply (the operation, the
filter's fields and operators, the sort...) with the values in placeholder order, and gets
the SQL text and asyncpg's positional arguments. On a miss the statement is built with named
placeholders (``p0``, ``p1``...) and compiled for the asyncpg dialect; constants SQLAlchemy
binds on its own (a JSON path, ``LIMIT 1``...) are kept with the compiled text.

asyncpg then prepares each text once per connection (its statement cache) and every later
call is one round trip: Bind, Execute, Sync.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.sql.compiler import SQLCompiler

DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
Names = Sequence[str]


@dataclass(frozen=True, slots=True)
class Compiled:
    """SQL text with ``$n`` parameters, and where each one's value comes from: ``order[n-1]``
    indexes the caller's values followed by ``constants``."""

    sql: str
    order: tuple[int, ...]
    constants: tuple[Any, ...] = ()
    direct: bool = False  # the values are the arguments, as they are

    def args(self, values: Sequence[Any]) -> Sequence[Any]:
        if self.direct:
            return values
        full = (*values, *self.constants) if self.constants else values
        return [full[i] for i in self.order]


@dataclass(frozen=True, slots=True)
class CopyIn:
    """A table's ``COPY ... FROM STDIN`` of every column: what asyncpg's
    ``copy_records_to_table`` takes, and the statement's text for the query loggers."""

    table: str
    schema: str | None
    columns: tuple[str, ...]
    sql: str


def copy_in(table: sa.Table) -> CopyIn:
    preparer = DIALECT.identifier_preparer
    columns = tuple(column.name for column in table.c)
    listed = ", ".join(map(preparer.quote, columns))
    sql = f"COPY {preparer.format_table(table)} ({listed}) FROM STDIN (FORMAT binary)"
    return CopyIn(table.name, table.schema, columns, sql)


def placeholders(count: int) -> list[str]:
    return [f"p{i}" for i in range(count)]


def compile_statement(statement: sa.ClauseElement, names: Names = ()) -> Compiled:
    """Compile for asyncpg; ``names`` are the placeholders the caller will give values for, in
    the order of those values. Any other bound parameter must carry its (constant) value."""
    compiled = cast(SQLCompiler, statement.compile(dialect=DIALECT))
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise ValueError("statements with expanding parameters cannot be compiled once")
    index = {name: i for i, name in enumerate(names)}
    order: list[int] = []
    constants: list[Any] = []
    for name in compiled.positiontup or ():
        position = index.get(name)
        if position is None:
            bind = compiled.binds[name]
            if bind.required:
                raise ValueError(f"no value for the bound parameter {name!r}")
            position = len(names) + len(constants)
            constants.append(bind.effective_value)
        order.append(position)
    direct = not constants and order == list(range(len(names)))
    return Compiled(compiled.string, tuple(order), tuple(constants), direct)


class ShapeCache:
    """Compiled statements by shape key, the least recently compiled dropped past ``size``."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._entries: dict[Hashable, Compiled] = {}

    def get(
        self, key: Hashable, values: Sequence[Any], build: Callable[[Names], sa.ClauseElement]
    ) -> tuple[str, Sequence[Any]]:
        """The SQL and the arguments for ``values``; ``build(names)`` makes the statement the
        first time this shape is seen, with one placeholder per value, in order."""
        compiled = self._entries.get(key)
        if compiled is None:
            names = placeholders(len(values))
            compiled = compile_statement(build(names), names)
            if len(self._entries) >= self._size:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = compiled
        return compiled.sql, compiled.args(values)

    def __len__(self) -> int:
        return len(self._entries)
