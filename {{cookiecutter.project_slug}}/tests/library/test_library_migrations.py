"""The example's migrations (0001 tables, 0002 foreign keys) on a fresh PostgreSQL database.
Delete with the example, together with its migration files."""

from __future__ import annotations

from decimal import Decimal

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.postgres import PostgresBackend
from {{cookiecutter.package_name}}.domain.library import Author, Book, Genre
from {{cookiecutter.package_name}}.ports.errors import ReferenceNotFound, StillReferenced
from {{cookiecutter.package_name}}.registrations import build_registry

from tests.support.backend_postgres import connect_raw
from tests.support.migrations import alembic, foreign_keys_of, tables_of


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


async def test_the_example_tables_and_foreign_keys_migrate_both_ways(
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
    example_keys = {
        "fk_authors_publisher_id": ("authors", "publishers", "r"),
        "fk_books_author_id": ("books", "authors", "r"),
    }
    assert example_keys.items() <= (await foreign_keys_of(fresh_database)).items()

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
