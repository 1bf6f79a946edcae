"""How a repository's statements reach PostgreSQL: on the running unit of work's connection
(a write inside a savepoint), in one transaction, or alone in autocommit; and every driver
error they raise translated into a kit error on the way out (see :mod:`.errors`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from ..registry import EntitySpec
from .errors import DATABASE_ERRORS, refused_write, translate

if TYPE_CHECKING:
    from .backend import PostgresBackend

R = TypeVar("R")


class StatementRunner:
    """Runs the statements of one entity's repository on its backend.

    ``unique`` maps each unique index (and the primary key) to its fields, so a violation
    names them.
    """

    def __init__(
        self,
        spec: EntitySpec[Any],
        backend: PostgresBackend,
        unique: Mapping[str, tuple[str, ...]],
    ) -> None:
        self.spec = spec
        self._backend = backend
        self._unique = unique

    async def run(
        self,
        work: Callable[[AsyncConnection], Awaitable[R]],
        *,
        records: Sequence[Mapping[str, Any]] = (),
        atomic: bool = False,
        write: bool = False,
        deleting: Sequence[str] | None = None,
    ) -> R:
        """Run ``work`` on a connection, translating every driver error.

        In a unit of work: on the unit's connection (a write inside a savepoint). Otherwise a
        single statement runs in autocommit (no BEGIN/COMMIT round trips: a statement is
        atomic on its own); ``atomic=True`` wraps several in one transaction. ``records`` are
        the rows written (to name the value a constraint refused); ``deleting`` the ids a
        delete targets (a foreign key refusing it means they are still referenced).
        """
        try:
            unit = self._backend.active_unit()
            if unit is not None:
                return await unit.run(work, savepoint=write or atomic)
            if atomic:
                async with self._backend.engine.begin() as conn:
                    return await work(conn)
            async with self._backend.autocommit_engine.connect() as conn:
                return await work(conn)
        except sa_exc.IntegrityError as exc:
            raise refused_write(
                exc, self.spec, self._unique, self._backend.foreign_keys, records, deleting
            ) from exc
        except DATABASE_ERRORS as exc:
            raise translate(exc, self.spec.name) from exc

    async def rows(
        self, statement: sa.Executable, parameters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            result = await conn.execute(statement, parameters)
            return [dict(row) for row in result.mappings()]

        return await self.run(work)

    async def scalar(self, statement: sa.Executable) -> Any:
        async def work(conn: AsyncConnection) -> Any:
            return (await conn.execute(statement)).scalar()

        return await self.run(work)

    async def rowcount(
        self,
        statement: sa.Executable,
        records: Sequence[Mapping[str, Any]] = (),
        deleting: Sequence[str] | None = None,
    ) -> int:
        async def work(conn: AsyncConnection) -> int:
            return int((await conn.execute(statement)).rowcount)

        return await self.run(work, records=records, write=True, deleting=deleting)

    async def rows_written(
        self, statement: sa.Executable, values: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """The rows a write ``RETURNING`` gave back; ``values`` are what it wrote."""

        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            result = await conn.execute(statement)
            return [dict(row) for row in result.mappings()]

        return await self.run(work, records=[values], write=True)
