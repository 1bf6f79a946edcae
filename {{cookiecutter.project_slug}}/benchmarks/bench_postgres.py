"""PostgreSQL: the repository against raw asyncpg, same server, same tables, same data.

    PYTHONPATH=src python -m benchmarks.bench_postgres [--quick]

Uses ``TEST_POSTGRES_DSN`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``).
The raw side is what a hand-written data layer would send: one prepared statement per read,
rows left as asyncpg records, ``executemany`` in one transaction for a batch. The repository
side also revives typed entities, validates the query and builds cursors, so the ratio is the
whole cost of the abstraction.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Sequence

import asyncpg

from {{cookiecutter.package_name}}.adapters.persistence.postgres import PostgresBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider

from benchmarks.harness import Report, Sizes, run_scenario
from tests.support.backend_postgres import drop_tables, postgres_url, raw_dsn
from tests.support.entities import Widget, build_registry

SIZES = Sizes(widgets=5_000, owners=100, teams=10)

COLUMNS = (
    "id, sku, name, barcode, price, quantity, weight, active, status, tags, labels,"
    " created_at, released_on, ref, dims, attributes, owner_id, version"
)


class RawPostgres:
    def __init__(self, pool: asyncpg.Pool, widgets: str, owners: str, teams: str) -> None:
        self.pool = pool
        self.widgets, self.owners, self.teams = widgets, owners, teams
        self.insert = (
            f"INSERT INTO {widgets} ({COLUMNS}) VALUES ($1, $2, $3, NULL, $4, $5, NULL, true,"
            " $6, $7::jsonb, '[]'::jsonb, $8, NULL, NULL, NULL, '{}'::jsonb, $9, 1)"
        )

    @staticmethod
    def _args(item: Widget) -> tuple[object, ...]:
        return (
            item.id,
            item.sku,
            item.name,
            item.price,
            item.quantity,
            item.status.value,
            json.dumps(item.tags),
            item.created_at,
            item.owner_id,
        )

    async def get(self, key: str) -> object:
        return await self.pool.fetchrow(f"SELECT * FROM {self.widgets} WHERE id = $1", key)

    async def create(self, item: Widget) -> object:
        return await self.pool.execute(self.insert, *self._args(item))

    async def filtered_page(self, limit: int) -> object:
        return await self.pool.fetch(
            f"SELECT * FROM {self.widgets} WHERE status = $1 AND quantity >= $2"
            " ORDER BY quantity DESC, id ASC LIMIT $3",
            "active",
            10,
            limit + 1,
        )

    async def view_page(self, limit: int) -> object:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT * FROM {self.widgets} ORDER BY id LIMIT $1", limit + 1)
            owner_ids = list({r["owner_id"] for r in rows[:limit] if r["owner_id"]})
            found = await conn.fetch(
                f"SELECT * FROM {self.owners} WHERE id = ANY($1::text[])", owner_ids
            )
            team_ids = list({o["team_id"] for o in found if o["team_id"]})
            await conn.fetch(f"SELECT * FROM {self.teams} WHERE id = ANY($1::text[])", team_ids)
            return rows

    async def add_many(self, items: Sequence[Widget]) -> object:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(self.insert, [self._args(i) for i in items])
        return None

    async def delete(self, keys: Sequence[str]) -> object:
        return await self.pool.execute(
            f"DELETE FROM {self.widgets} WHERE id = ANY($1::text[])", list(keys)
        )


async def run(quick: bool = False) -> Report:
    sizes = SIZES.quick() if quick else SIZES
    url = postgres_url()
    report = Report("postgres")
    try:
        probe = await asyncpg.connect(raw_dsn(url), timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        report.skipped = f"{url.split('@')[-1]} unreachable ({type(exc).__name__})"
        return report
    await probe.close()
    registry = build_registry(f"bench_{uuid.uuid4().hex[:8]}")
    backend = PostgresBackend(url, pool_size=4, max_overflow=0, pool_timeout=10.0)
    provider = RepositoryProvider(registry, {"postgres": lambda: backend}, "postgres")
    await provider.start(create_schema=True)
    pool = await asyncpg.create_pool(raw_dsn(url), min_size=4, max_size=4)
    try:
        raw = RawPostgres(
            pool,
            registry.get("widget").collection,
            registry.get("owner").collection,
            registry.get("team").collection,
        )
        report.rows = await run_scenario(
            provider, raw, sizes, after_seed=lambda: pool.execute(f"ANALYZE {raw.widgets}")
        )
        report.notes.append(
            f"{url.split('@')[-1]}, {sizes.widgets} widgets; raw = asyncpg prepared statements,"
            " executemany in one transaction for add_many"
        )
    finally:
        await pool.close()
        await provider.close()
        await drop_tables(url, [spec.collection for spec in registry])
    return report


if __name__ == "__main__":
    from benchmarks.run import main

    main(["--backends", "postgres", *sys.argv[1:]])
