"""The PostgreSQL backend: one async engine (SQLAlchemy 2 + asyncpg) for the process, and
its units of work (one database transaction on one connection)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ....ports.errors import BackendUnavailable
from ....ports.repository import Repository
from ..registry import EntitySpec, Relation
from .errors import BACKEND, DATABASE_ERRORS, translate, translated
from .repository import PostgresRepository
from .schema import foreign_key_name, json_dumps, table_for

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)
_units = itertools.count()

# Serialises CREATE TABLE between service instances starting at the same time.
SCHEMA_LOCK_KEY = 0x6B_69_74_5F_64_64_6C  # "kit_ddl"


class Unit:
    """The connection of a running unit of work, and the lock that keeps the tasks the unit
    starts from sending statements on it at the same time (a connection runs one at a time).
    """

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.lock = asyncio.Lock()

    async def run(self, work: Callable[[AsyncConnection], Awaitable[R]], *, savepoint: bool) -> R:
        """``work`` on the unit's connection; with ``savepoint`` a failure undoes only its own
        statements, so the unit stays usable and the original error propagates."""
        async with self.lock:
            if not savepoint:
                return await work(self.connection)
            nested = await self.connection.begin_nested()
            try:
                result = await work(self.connection)
            except Exception:
                await _quietly(nested.rollback(), "rollback to savepoint")
                raise
            await nested.commit()
            return result


async def _quietly(action: Awaitable[Any], what: str) -> None:
    """Clean-up whose own failure must not replace the error being raised: logged instead."""
    try:
        await action
    except Exception as exc:  # the original error is the one that matters
        log.warning("postgres %s failed (%s): %s", what, type(exc).__name__, exc)


class PostgresBackend:
    """Creates its engine and pool once, in :meth:`start`; disposes of them in :meth:`close`.

    ``pool_timeout`` (seconds) bounds both the wait for a pooled connection and the time to
    open a new one; ``statement_timeout_ms`` is set on every connection (0: no limit).
    """

    name = BACKEND

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pool_timeout: float = 5.0,
        statement_timeout_ms: int = 10_000,
        echo: bool = False,
        schema: str | None = None,
    ) -> None:
        self.url = url
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self.pool_timeout = pool_timeout
        self.statement_timeout_ms = statement_timeout_ms
        self.echo = echo
        self.metadata = sa.MetaData(schema=schema)
        self._engine: AsyncEngine | None = None
        self._autocommit: AsyncEngine | None = None
        self._specs: dict[str, EntitySpec[Any]] = {}
        # Enforced relations by the name of their foreign key: a violation names its key.
        self.foreign_keys: dict[str, tuple[EntitySpec[Any], Relation]] = {}
        self._unit: ContextVar[Unit | None] = ContextVar(
            f"postgres_unit_{next(_units)}", default=None
        )

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, specs: Sequence[EntitySpec[Any]], *, create_schema: bool) -> None:
        if self._engine is None:
            server_settings = {"application_name": "kit-postgres", "TimeZone": "UTC"}
            if self.statement_timeout_ms:
                server_settings["statement_timeout"] = str(self.statement_timeout_ms)
            self._engine = create_async_engine(
                self.url,
                pool_size=self.pool_size,
                max_overflow=self.max_overflow,
                pool_timeout=self.pool_timeout,
                pool_recycle=1800,
                echo=self.echo,
                json_serializer=json_dumps,
                connect_args={"timeout": self.pool_timeout, "server_settings": server_settings},
            )
            self._autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self._specs.update({spec.name: spec for spec in specs})
        for spec in specs:
            for rel in spec.references.values():
                self.foreign_keys[foreign_key_name(spec, rel)] = (spec, rel)
        tables = [self.table(spec) for spec in specs]
        if create_schema and tables:
            await self.create_tables(tables)

    async def create_tables(self, tables: Sequence[sa.Table] | None = None) -> None:
        """CREATE TABLE / INDEX IF NOT EXISTS for ``tables`` (default: every known table)."""
        chosen = list(tables) if tables is not None else list(self.metadata.sorted_tables)
        with translated("schema"):
            async with self.engine.begin() as conn:
                if self.metadata.schema:
                    create = sa.schema.CreateSchema(self.metadata.schema, if_not_exists=True)
                    await conn.execute(create)
                await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
                await conn.run_sync(self.metadata.create_all, tables=chosen, checkfirst=True)

    async def close(self) -> None:
        engine, self._engine, self._autocommit = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    async def ping(self) -> None:
        with translated("ping"):
            async with self.autocommit_engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))

    # --- access ----------------------------------------------------------------------------

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise BackendUnavailable(BACKEND, "not started")
        return self._engine

    @property
    def autocommit_engine(self) -> AsyncEngine:
        """The same pool, without BEGIN/COMMIT around single statements."""
        if self._autocommit is None:
            raise BackendUnavailable(BACKEND, "not started")
        return self._autocommit

    def table(self, spec: EntitySpec[Any]) -> sa.Table:
        return table_for(spec, self.metadata, {**self._specs, spec.name: spec})

    def repository(self, spec: EntitySpec[T]) -> Repository[T]:
        return PostgresRepository(spec, self.table(spec), self)

    # --- units of work ---------------------------------------------------------------------

    def active_unit(self) -> Unit | None:
        """The unit of work the current task (or the task that started it) is inside."""
        return self._unit.get()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One database transaction on one connection: every repository operation of this
        backend inside the block (reads included, in this task and the tasks it starts) runs
        on it; a clean exit commits, an exception or a cancellation rolls everything back and
        propagates unchanged. A unit inside a unit is a savepoint of the outer one."""
        outer = self._unit.get()
        if outer is not None:
            async with self._savepoint(outer):
                yield
            return
        try:
            connection = await self.engine.connect()
        except DATABASE_ERRORS as exc:
            raise translate(exc, "unit of work") from exc
        token = self._unit.set(Unit(connection))
        try:
            try:
                await connection.begin()
            except DATABASE_ERRORS as exc:
                raise translate(exc, "unit of work") from exc
            yield
        except BaseException:
            self._unit.reset(token)
            # Shielded: a second cancellation must not leave the transaction half closed.
            await asyncio.shield(_discard(connection))
            raise
        self._unit.reset(token)
        try:
            await connection.commit()
        except DATABASE_ERRORS as exc:
            await asyncio.shield(_discard(connection))
            raise translate(exc, "unit of work") from exc
        await _quietly(connection.close(), "close")

    @asynccontextmanager
    async def _savepoint(self, unit: Unit) -> AsyncIterator[None]:
        async with unit.lock:
            try:
                nested = await unit.connection.begin_nested()
            except DATABASE_ERRORS as exc:
                raise translate(exc, "unit of work") from exc
        try:
            yield
        except BaseException:
            async with unit.lock:
                await _quietly(nested.rollback(), "rollback to savepoint")
            raise
        async with unit.lock:
            try:
                await nested.commit()
            except DATABASE_ERRORS as exc:
                raise translate(exc, "unit of work") from exc


async def _discard(connection: AsyncConnection) -> None:
    """Roll back and give the connection back; a connection that cannot roll back is closed
    (the server then discards the transaction with the session)."""
    await _quietly(connection.rollback(), "rollback")
    await _quietly(connection.close(), "close")
