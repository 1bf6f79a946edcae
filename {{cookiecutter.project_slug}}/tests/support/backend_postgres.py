"""PostgreSQL for the contract suite: a real server, tables unique to each test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from {{cookiecutter.package_name}}.adapters.persistence.postgres import PostgresBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import (
    EntityRegistry,
    PersistenceBackend,
)

from tests.support.services import unavailable

DEFAULT_DSN = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """SQLAlchemy URL of the test server (``TEST_POSTGRES_DSN``; plain ``postgresql://`` ok)."""
    dsn = os.environ.get("TEST_POSTGRES_DSN", DEFAULT_DSN)
    if dsn.startswith(("postgresql://", "postgres://")):
        dsn = "postgresql+asyncpg://" + dsn.split("://", 1)[1]
    return dsn


def raw_dsn(url: str | None = None) -> str:
    """The same server as a libpq/asyncpg DSN (no SQLAlchemy driver suffix)."""
    return "postgresql://" + (url or postgres_url()).split("://", 1)[1]


async def connect_raw(url: str | None = None) -> asyncpg.Connection:
    """A plain asyncpg connection, or ``unavailable()`` (skip locally, fail under CI)."""
    try:
        return await asyncpg.connect(raw_dsn(url), timeout=3.0)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        unavailable("postgres", f"{raw_dsn(url)}: {type(exc).__name__}: {exc}")
        raise  # unreachable: unavailable() never returns


async def drop_tables(url: str, names: list[str]) -> None:
    conn = await asyncpg.connect(raw_dsn(url), timeout=10)
    try:
        for name in names:
            await conn.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


def make_backend(
    url: str | None = None, *, pool_timeout: float = 10.0, statement_timeout_ms: int = 30_000
) -> PostgresBackend:
    # Enough connections for the contract suite's 50 concurrent writers to queue briefly.
    return PostgresBackend(
        url or postgres_url(),
        pool_size=10,
        max_overflow=20,
        pool_timeout=pool_timeout,
        statement_timeout_ms=statement_timeout_ms,
    )


@asynccontextmanager
async def open_postgres(
    request: pytest.FixtureRequest, registry: EntityRegistry
) -> AsyncIterator[PersistenceBackend]:
    url = postgres_url()
    probe = await connect_raw(url)
    await probe.close()
    backend = make_backend(url)
    try:
        yield backend
    finally:
        await backend.close()
        await drop_tables(url, [spec.collection for spec in registry])
