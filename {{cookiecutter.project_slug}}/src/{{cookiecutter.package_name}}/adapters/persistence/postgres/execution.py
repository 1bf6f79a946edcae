"""How a repository's statements reach PostgreSQL: on the running unit of work's connection
(a write inside a savepoint), or on a pooled connection, alone (autocommit: one round trip)
or in one transaction; and every driver error translated into a kit error on the way out
(see :mod:`.errors`).

A pooled connection found dead when a statement runs on it (the server restarted, the
network reset it) is replaced, and a read runs once more on another one. A write does not:
whether the server applied it is unknown, so the caller gets ``BackendUnavailable``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from ..registry import EntitySpec
from .errors import DATABASE_ERRORS, connection_lost, refused_write, translate
from .statements import CopyIn

if TYPE_CHECKING:
    from .backend import PostgresBackend
    from .pool import ConnectionPool

R = TypeVar("R")
Work = Callable[[Any], Awaitable[R]]  # given an asyncpg connection

log = logging.getLogger(__name__)


async def quietly(action: Awaitable[Any], what: str) -> None:
    """Clean-up whose own failure must not replace the error being raised: logged instead."""
    try:
        await action
    except Exception as exc:  # the original error is the one that matters
        log.warning("postgres %s failed (%s): %s", what, type(exc).__name__, exc)


async def in_transaction(conn: Any, work: Work[R]) -> R:
    """``work`` between BEGIN and COMMIT; a failure rolls back (a cancellation leaves that to
    the caller, who closes the connection)."""
    await conn.execute("BEGIN")
    try:
        result = await work(conn)
    except Exception:
        await quietly(conn.execute("ROLLBACK"), "rollback")
        raise
    await conn.execute("COMMIT")
    return result


class Unit:
    """The connection of a running unit of work, and the lock that keeps the tasks the unit
    starts from sending statements on it at the same time (a connection runs one at a time).
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.lock = asyncio.Lock()
        self._savepoints = itertools.count(1)

    def savepoint_name(self) -> str:
        return f"kit_savepoint_{next(self._savepoints)}"

    async def run(self, work: Work[R], *, savepoint: bool) -> R:
        """``work`` on the unit's connection; with ``savepoint`` a failure undoes only its own
        statements, so the unit stays usable and the original error propagates."""
        async with self.lock:
            conn = self.connection
            if not savepoint:
                return await work(conn)
            name = self.savepoint_name()
            await conn.execute(f"SAVEPOINT {name}")
            try:
                result = await work(conn)
            except Exception:
                await quietly(conn.execute(f"ROLLBACK TO SAVEPOINT {name}"), "rollback")
                raise
            await conn.execute(f"RELEASE SAVEPOINT {name}")
            return result


async def _on(pool: ConnectionPool, conn: Any, work: Work[R]) -> R:
    """``work`` on a pooled connection, then the connection back to the pool: reused when the
    server answered, closed when it failed or its caller was cancelled mid-statement."""
    try:
        result = await work(conn)
    except Exception as exc:
        (pool.discard if connection_lost(exc) else pool.release)(conn)
        raise
    except BaseException:
        pool.discard(conn)
        raise
    pool.release(conn)
    return result


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
        work: Work[R],
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
                return await self._pooled(lambda conn: in_transaction(conn, work), retry=False)
            return await self._pooled(work, retry=not write)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise refused_write(
                exc, self.spec, self._unique, self._backend.foreign_keys, records, deleting
            ) from exc
        except DATABASE_ERRORS as exc:
            raise translate(exc, self.spec.name) from exc

    async def _pooled(self, work: Work[R], *, retry: bool) -> R:
        pool = self._backend.pool
        conn = await pool.acquire()
        try:
            result = await work(conn)
        except Exception as exc:
            lost = connection_lost(exc)
            (pool.discard if lost else pool.release)(conn)
            if not (retry and lost):
                raise
            log.info("postgres connection lost (%s): the read runs again", type(exc).__name__)
        except BaseException:  # cancelled mid-statement: the connection's state is unknown
            pool.discard(conn)
            raise
        else:
            pool.release(conn)
            return result
        return await _on(pool, await pool.acquire(), work)

    # --- the statements repositories run ----------------------------------------------------

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Any]:
        rows: list[Any] = await self.run(lambda conn: conn.fetch(sql, *args))
        return rows

    async def fetchval(self, sql: str, args: Sequence[Any]) -> Any:
        return await self.run(lambda conn: conn.fetchval(sql, *args))

    async def execute(
        self,
        sql: str,
        args: Sequence[Any],
        records: Sequence[Mapping[str, Any]] = (),
        deleting: Sequence[str] | None = None,
    ) -> int:
        """A write; returns how many rows it touched."""
        status: str = await self.run(
            lambda conn: conn.execute(sql, *args), records=records, write=True, deleting=deleting
        )
        return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0

    async def copy(
        self, copy: CopyIn, rows: Sequence[Sequence[Any]], records: Sequence[Mapping[str, Any]]
    ) -> None:
        """Rows written by one ``COPY`` (a write, all or nothing); ``records`` are the rows
        as dicts, to name the value a constraint refused."""
        pool = self._backend.pool
        await self.run(
            lambda conn: pool.copy_records(conn, copy, rows), records=records, write=True
        )

    async def fetch_written(
        self, sql: str, args: Sequence[Any], values: Mapping[str, Any]
    ) -> list[Any]:
        """The rows a write ``RETURNING`` gave back; ``values`` are what it wrote."""
        rows: list[Any] = await self.run(
            lambda conn: conn.fetch(sql, *args), records=[values], write=True
        )
        return rows
