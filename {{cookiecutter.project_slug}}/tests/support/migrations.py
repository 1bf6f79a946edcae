"""Alembic against a real, fresh PostgreSQL database: helpers for the migration tests."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.support.backend_postgres import connect_raw, postgres_url

PROJECT = Path(__file__).resolve().parents[2]  # the project root: alembic.ini


async def fresh_database() -> AsyncIterator[str]:
    """A database of its own (so ``alembic_version`` and the tables start from nothing)."""
    admin = await connect_raw()
    name = f"kit_migrations_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def alembic(url: str, *args: str) -> tuple[int, str]:
    """Run the alembic CLI from the project root, configured like the service (POSTGRES_DSN)."""
    env = {**os.environ, "POSTGRES_DSN": url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alembic",
        *args,
        cwd=PROJECT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return int(process.returncode or 0), output.decode()


async def foreign_keys_of(url: str) -> dict[str, tuple[str, str, str]]:
    """Foreign key name -> (child table, target table, ON DELETE rule: r, c, n or a)."""
    conn = await connect_raw(url)
    try:
        rows = await conn.fetch(
            "SELECT conname, conrelid::regclass::text AS child,"
            " confrelid::regclass::text AS target, confdeltype::text AS rule"
            " FROM pg_constraint WHERE contype = 'f'"
        )
    finally:
        await conn.close()
    return {r["conname"]: (r["child"], r["target"], r["rule"]) for r in rows}


async def tables_of(url: str) -> dict[str, dict[str, str]]:
    conn = await connect_raw(url)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        )
        indexes = await conn.fetch("SELECT indexname, indexdef FROM pg_indexes")
    finally:
        await conn.close()
    tables: dict[str, dict[str, str]] = {}
    for row in rows:
        tables.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
    tables["<indexes>"] = {r["indexname"]: r["indexdef"] for r in indexes}
    return tables
