"""The PostgreSQL backend: one pool of asyncpg connections for the process (:mod:`.pool`),
and its units of work (one database transaction on one connection).

SQLAlchemy describes the tables and compiles every statement; asyncpg runs them. Creating
the schema (``create_schema``) goes through SQLAlchemy's ``create_all`` on a connection of
its own, opened for that and closed after.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ....ports.errors import BackendUnavailable
from ....ports.repository import Repository
from ..registry import EntitySpec, Relation
from .errors import BACKEND, DATABASE_ERRORS, connection_lost, translate, translated
from .execution import Unit, quietly
from .pool import ConnectionPool, QueryLogger
from .repository import PostgresRepository
from .schema import foreign_key_name, json_dumps, table_for

T = TypeVar("T")

log = logging.getLogger(__name__)
_units = itertools.count()

ROLLBACK_TIMEOUT = 5.0  # seconds: a connection that cannot roll back by then is closed
# Serialises CREATE TABLE between service instances starting at the same time.
SCHEMA_LOCK_KEY = 0x6B_69_74_5F_64_64_6C  # "kit_ddl"


class PostgresBackend:
    """Creates its pool once, in :meth:`start` (connections open when first used); closes it
    in :meth:`close`.

    ``pool_timeout`` (seconds) bounds both the wait for a pooled connection and the time to
    open a new one; ``statement_timeout_ms`` is set on every connection (0: no limit);
    ``echo`` logs every statement.
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
        self._pool: ConnectionPool | None = None
        self._specs: dict[str, EntitySpec[Any]] = {}
        # Enforced relations by the name of their foreign key: a violation names its key.
        self.foreign_keys: dict[str, tuple[EntitySpec[Any], Relation]] = {}
        self._unit: ContextVar[Unit | None] = ContextVar(
            f"postgres_unit_{next(_units)}", default=None
        )

    # --- lifecycle -------------------------------------------------------------------------

    def _server_settings(self) -> dict[str, str]:
        settings = {"application_name": "kit-postgres", "TimeZone": "UTC"}
        if self.statement_timeout_ms:
            settings["statement_timeout"] = str(self.statement_timeout_ms)
        return settings

    def _connect_args(self) -> dict[str, Any]:
        """asyncpg's ``connect`` arguments from the SQLAlchemy URL (as SQLAlchemy's dialect
        reads it: query options such as ``ssl`` pass through)."""
        url = make_url(self.url)
        args: dict[str, Any] = url.translate_connect_args(username="user")
        args.update(url.query)
        for option in ("prepared_statement_cache_size", "prepared_statement_name_func"):
            args.pop(option, None)
        if "port" in args:
            args["port"] = int(args["port"])
        args["timeout"] = self.pool_timeout
        args["server_settings"] = self._server_settings()
        # Prepared statements stay until the statement cache (LRU) drops them: asyncpg would
        # otherwise prepare each one again every 5 minutes, one more round trip each time.
        args.setdefault("max_cached_statement_lifetime", 0)
        return args

    async def start(self, specs: Sequence[EntitySpec[Any]], *, create_schema: bool) -> None:
        if self._pool is None:
            self._pool = ConnectionPool(
                self._connect_args(),
                size=self.pool_size,
                overflow=self.max_overflow,
                timeout=self.pool_timeout,
                recycle=1800,
                echo=self.echo,
            )
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
        engine = create_async_engine(
            self.url,
            poolclass=NullPool,
            echo=self.echo,
            json_serializer=json_dumps,
            connect_args={
                "timeout": self.pool_timeout,
                "server_settings": self._server_settings(),
            },
        )
        try:
            with translated("schema"):
                async with engine.begin() as conn:
                    if self.metadata.schema:
                        create = sa.schema.CreateSchema(self.metadata.schema, if_not_exists=True)
                        await conn.execute(create)
                    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
                    await conn.run_sync(self.metadata.create_all, tables=chosen, checkfirst=True)
        finally:
            await engine.dispose()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def ping(self) -> None:
        """One ``SELECT 1`` on a pooled connection (a dead one is replaced, as for a read)."""
        pool = self.pool
        for attempt in (1, 2):
            with translated("ping"):
                conn = await pool.acquire()
                try:
                    await conn.fetchval("SELECT 1")
                except BaseException as exc:
                    pool.discard(conn)
                    if attempt == 1 and isinstance(exc, Exception) and connection_lost(exc):
                        continue
                    raise
                pool.release(conn)
                return

    # --- access ----------------------------------------------------------------------------

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            raise BackendUnavailable(BACKEND, "not started")
        return self._pool

    def add_query_logger(self, logger: QueryLogger) -> None:
        """Call ``logger(connection, query)`` after every statement (tests count them)."""
        self.pool.add_query_logger(logger)

    def remove_query_logger(self, logger: QueryLogger) -> None:
        self.pool.remove_query_logger(logger)

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
        pool = self.pool
        conn = await self._begin(pool)
        token = self._unit.set(Unit(conn))
        try:
            yield
        except BaseException:
            self._unit.reset(token)
            # Shielded: a second cancellation must not leave the transaction half closed.
            await asyncio.shield(_discard(pool, conn))
            raise
        self._unit.reset(token)
        try:
            status = await conn.execute("COMMIT")
        except BaseException as exc:
            await asyncio.shield(_discard(pool, conn))
            if isinstance(exc, DATABASE_ERRORS):
                raise translate(exc, "unit of work") from exc
            raise
        pool.release(conn)
        if status == "ROLLBACK":  # an error the caller caught had aborted the transaction
            raise BackendUnavailable(BACKEND, "an earlier error aborted this unit of work")

    async def _begin(self, pool: ConnectionPool) -> Any:
        """A pooled connection inside BEGIN; a dead one is replaced (nothing was sent yet)."""
        for attempt in (1, 2):
            try:
                conn = await pool.acquire()
            except DATABASE_ERRORS as exc:
                raise translate(exc, "unit of work") from exc
            try:
                await conn.execute("BEGIN")
            except BaseException as exc:
                pool.discard(conn)
                if attempt == 1 and isinstance(exc, Exception) and connection_lost(exc):
                    continue
                if isinstance(exc, DATABASE_ERRORS):
                    raise translate(exc, "unit of work") from exc
                raise
            return conn
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def _savepoint(self, unit: Unit) -> AsyncIterator[None]:
        conn, name = unit.connection, unit.savepoint_name()
        async with unit.lock:
            try:
                await conn.execute(f"SAVEPOINT {name}")
            except DATABASE_ERRORS as exc:
                raise translate(exc, "unit of work") from exc
        try:
            yield
        except BaseException:
            async with unit.lock:
                await quietly(conn.execute(f"ROLLBACK TO SAVEPOINT {name}"), "rollback")
            raise
        async with unit.lock:
            try:
                await conn.execute(f"RELEASE SAVEPOINT {name}")
            except DATABASE_ERRORS as exc:
                raise translate(exc, "unit of work") from exc


async def _discard(pool: ConnectionPool, conn: Any) -> None:
    """Roll back and give the connection back; one that cannot roll back is closed (the
    server then discards the transaction with the session)."""
    try:
        await conn.execute("ROLLBACK", timeout=ROLLBACK_TIMEOUT)
    except BaseException as exc:
        pool.discard(conn)
        if isinstance(exc, Exception):
            log.warning("postgres rollback failed (%s): %s", type(exc).__name__, exc)
            return
        raise
    pool.release(conn)
