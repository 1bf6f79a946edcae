"""The PostgreSQL backend: one async engine (SQLAlchemy 2 + asyncpg) for the process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ....ports.errors import BackendUnavailable
from ....ports.repository import Repository
from ....settings import PersistenceKitSettings
from ..registry import EntitySpec
from .errors import BACKEND, translated
from .repository import PostgresRepository
from .schema import json_dumps, table_for

T = TypeVar("T")

# Serialises CREATE TABLE between service instances starting at the same time.
SCHEMA_LOCK_KEY = 0x6B_69_74_5F_64_64_6C  # "kit_ddl"


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
        tables = [table_for(spec, self.metadata) for spec in specs]
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
        return table_for(spec, self.metadata)

    def repository(self, spec: EntitySpec[T]) -> Repository[T]:
        return PostgresRepository(spec, self.table(spec), self)


def build_backend(settings: PersistenceKitSettings) -> PostgresBackend:
    """The backend the container wires for ``REPO_DATABASE=postgres``."""
    return PostgresBackend(
        settings.postgres_url,
        pool_size=settings.postgres_pool_size,
        max_overflow=settings.postgres_max_overflow,
        pool_timeout=settings.postgres_pool_timeout_seconds,
        statement_timeout_ms=settings.postgres_statement_timeout_ms,
        echo=settings.postgres_echo,
    )
