"""Alembic against a real, fresh PostgreSQL database: the migrations build exactly the schema
the registry describes (whatever features the service runs), foreign keys included, and undo it."""

from __future__ import annotations

from {{cookiecutter.package_name}}.adapters.persistence.registry import OnDelete
from {{cookiecutter.package_name}}.registrations import build_registry

from tests.support.migrations import alembic, foreign_keys_of, tables_of

RULES = {OnDelete.RESTRICT: "r", OnDelete.CASCADE: "c", OnDelete.SET_NULL: "n"}


async def test_migrations_build_the_registry_schema_with_no_autogenerate_diff(
    fresh_database: str,
) -> None:
    code, output = await alembic(fresh_database, "upgrade", "head")
    assert code == 0, output

    registry = build_registry()
    tables = await tables_of(fresh_database)
    for spec in registry:
        assert set(tables[spec.collection]) == set(spec.schema.fields), spec.name
    expected_keys = {
        f"fk_{spec.collection}_{rel.local_field}": (
            spec.collection,
            registry.get(rel.target).collection,
            RULES[rel.on_delete],
        )
        for spec in registry
        for rel in spec.references.values()
        if rel.on_delete is not None
    }
    assert await foreign_keys_of(fresh_database) == expected_keys

    code, output = await alembic(fresh_database, "check")
    assert code == 0, output
    assert "No new upgrade operations detected" in output

    code, output = await alembic(fresh_database, "downgrade", "base")
    assert code == 0, output
    assert set(await tables_of(fresh_database)) == {"alembic_version", "<indexes>"}
