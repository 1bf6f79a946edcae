"""A PostgreSQL database of its own for a test that runs the whole app (the app's tables have
fixed names: ``owners``, ``widgets``...), created on the test server and dropped afterwards."""

from __future__ import annotations

import uuid

import asyncpg

from tests.support.backend_postgres import connect_raw, postgres_url, raw_dsn


async def create_scratch_database() -> str:
    """Create it and return its SQLAlchemy URL; ``unavailable()`` when the server is not there."""
    conn = await connect_raw()  # skip locally, fail under CI
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{postgres_url().rsplit('/', 1)[0]}/{name}"


async def drop_scratch_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(raw_dsn(), timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
