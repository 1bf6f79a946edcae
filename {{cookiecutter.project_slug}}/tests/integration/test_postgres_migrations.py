"""Alembic against a real, fresh PostgreSQL database: the migrations build exactly the schema
the registry describes, and the repositories work on it without creating anything."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from {{cookiecutter.package_name}}.adapters.persistence.postgres import PostgresBackend
from {{cookiecutter.package_name}}.domain.library import Author, Book, Genre
from {{cookiecutter.package_name}}.ports.errors import ReferenceNotFound, StillReferenced
from {{cookiecutter.package_name}}.registrations import build_registry

from tests.support.backend_postgres import connect_raw, postgres_url

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
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


async def test_the_foreign_key_migration_refuses_existing_orphans(fresh_database: str) -> None:
    code, output = await alembic(fresh_database, "upgrade", "0001")
    assert code == 0, output
    conn = await connect_raw(fresh_database)
    try:
        await conn.execute(
            "INSERT INTO authors (id, name, email, publisher_id, bio, created_at, version)"
            " VALUES ('a1', 'Ada', 'ada@example.org', 'gone', '', now(), 1)"
        )
    finally:
        await conn.close()
    code, output = await alembic(fresh_database, "upgrade", "head")
    assert code != 0
    assert "1 row(s) of authors.publisher_id point at no publishers row" in output
    assert await foreign_keys_of(fresh_database) == {}  # nothing half-applied


async def test_migrations_build_the_registry_schema_with_no_autogenerate_diff(
    fresh_database: str,
) -> None:
    code, output = await alembic(fresh_database, "upgrade", "head")
    assert code == 0, output

    tables = await tables_of(fresh_database)
    assert {"publishers", "authors", "books", "alembic_version"} <= set(tables)
    assert tables["books"]["price"] == "numeric"
    assert tables["books"]["tags"] == "jsonb"
    assert tables["books"]["published_on"] == "date"
    assert tables["books"]["created_at"] == "timestamp with time zone"
    assert tables["books"]["version"] == "bigint"
    assert "UNIQUE" in tables["<indexes>"]["uq_books_isbn"]
    assert "UNIQUE" in tables["<indexes>"]["uq_authors_email"]
    assert "ix_books_author_id" in tables["<indexes>"]

    # the example's enforced relations are foreign keys, ON DELETE RESTRICT (r), not NO ACTION
    assert await foreign_keys_of(fresh_database) == {
        "fk_authors_publisher_id": ("authors", "publishers", "r"),
        "fk_books_author_id": ("books", "authors", "r"),
    }

    code, output = await alembic(fresh_database, "check")
    assert code == 0, output
    assert "No new upgrade operations detected" in output

    # the service's repositories work on the migrated schema without creating anything
    registry = build_registry()
    backend = PostgresBackend(fresh_database, pool_timeout=5.0)
    await backend.start(list(registry), create_schema=False)
    try:
        authors = backend.repository(registry.get("author"))
        books = backend.repository(registry.get("book"))
        ada = await authors.add(Author(name="Ada", email="ada@example.org"))
        book = await books.add(
            Book(
                title="Notes",
                isbn="978-0-306-40615-7",
                author_id=ada.id,
                genre=Genre.SCIENCE,
                price=Decimal("12.50"),
                tags=["maths"],
            )
        )
        assert await books.get(book.id) == book
        assert [b.id for b in await books.find_all({"tags": {"contains": "maths"}})] == [book.id]
        with pytest.raises(StillReferenced):  # the migrated foreign key refuses it
            await authors.delete(ada.id)
        with pytest.raises(ReferenceNotFound):
            await books.update_fields(book.id, {"author_id": "nobody"})
    finally:
        await backend.close()

    code, output = await alembic(fresh_database, "downgrade", "0001")
    assert code == 0, output
    assert await foreign_keys_of(fresh_database) == {}
    assert {"publishers", "authors", "books"} <= set(await tables_of(fresh_database))

    code, output = await alembic(fresh_database, "downgrade", "base")
    assert code == 0, output
    assert set(await tables_of(fresh_database)) == {"alembic_version", "<indexes>"}
