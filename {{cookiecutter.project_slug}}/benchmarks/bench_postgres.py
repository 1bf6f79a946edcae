"""PostgreSQL: the repository against raw asyncpg, same server, same tables, same data.

    PYTHONPATH=src python -m benchmarks.bench_postgres

Uses ``TEST_POSTGRES_DSN`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``).
The raw side is what a hand-written data layer would send: one prepared statement per read,
rows left as asyncpg records. The repository side also revives typed entities, validates the
query and builds cursors, so the ratio is the whole cost of the abstraction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import uuid
from decimal import Decimal
from typing import Any

import asyncpg

from benchmarks.harness import Measurement, compare, print_table
from {{cookiecutter.package_name}}.adapters.persistence.postgres import PostgresBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.query import Query

from tests.support.backend_postgres import drop_tables, postgres_url, raw_dsn
from tests.support.entities import Owner, Status, Team, Widget, build_registry

WIDGETS = 5_000
OWNERS = 100
TEAMS = 10
PAGE = 20
ROUNDS = 3


async def best_of(operation: str, repository: Any, raw: Any, repeat: int = 100) -> Measurement:
    rounds = [await compare(operation, repository, raw, repeat) for _ in range(ROUNDS)]
    return Measurement(
        operation, min(r.repository_ms for r in rounds), min(r.raw_ms for r in rounds)
    )


def widget(n: int, owner_id: str) -> Widget:
    return Widget(
        id=f"w{n:06d}",
        sku=f"SKU-{n:06d}",
        name=f"widget {n}",
        price=Decimal(f"{n % 100}.99"),
        quantity=n % 50,
        status=[Status.ACTIVE, Status.DRAFT, Status.ARCHIVED][n % 3],
        tags=["red"] if n % 2 else ["blue"],
        created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n),
        owner_id=owner_id,
    )


async def run(url: str) -> list[Measurement]:
    registry = build_registry(f"bench_{uuid.uuid4().hex[:8]}")
    backend = PostgresBackend(url, pool_size=4, max_overflow=0, pool_timeout=10.0)
    provider = RepositoryProvider(registry, {"postgres": lambda: backend}, "postgres")
    await provider.start(create_schema=True)
    pool = await asyncpg.create_pool(raw_dsn(url), min_size=4, max_size=4)
    widgets_table = registry.get("widget").collection
    owners_table = registry.get("owner").collection
    teams_table = registry.get("team").collection
    try:
        teams = await provider.of(Team).add_many([Team(name=f"t{i}") for i in range(TEAMS)])
        owners = await provider.of(Owner).add_many(
            [
                Owner(name=f"o{i}", email=f"o{i}@x.io", team_id=teams[i % TEAMS].id)
                for i in range(OWNERS)
            ]
        )
        repo = provider.of(Widget)
        await repo.add_many([widget(n, owners[n % OWNERS].id) for n in range(WIDGETS)])
        await pool.execute(f"ANALYZE {widgets_table}")
        view = provider.view("widget")
        counter = itertools.count(WIDGETS)

        async def repo_create() -> None:
            await repo.add(widget(next(counter), owners[0].id))

        insert = (
            f"INSERT INTO {widgets_table} (id, sku, name, barcode, price, quantity, weight,"
            " active, status, tags, labels, created_at, released_on, ref, dims, attributes,"
            " owner_id, version) VALUES"
            " ($1, $2, $3, NULL, $4, $5, NULL, true, $6, $7::jsonb, '[]'::jsonb, $8, NULL,"
            " NULL, NULL, '{}'::jsonb, $9, 1)"
        )

        async def raw_create() -> None:
            n = next(counter)
            await pool.execute(
                insert,
                f"w{n:06d}",
                f"SKU-{n:06d}",
                f"widget {n}",
                Decimal(f"{n % 100}.99"),
                n % 50,
                "active",
                json.dumps(["red"]),
                dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                owners[0].id,
            )

        page_query = Query(
            filter={"status": "active", "quantity": {"gte": 10}}, sort="-quantity", limit=PAGE
        )
        raw_page_sql = (
            f"SELECT * FROM {widgets_table} WHERE status = $1 AND quantity >= $2"
            " ORDER BY quantity DESC, id ASC LIMIT $3"
        )

        async def raw_view_page() -> list[asyncpg.Record]:
            async with pool.acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT * FROM {widgets_table} ORDER BY id LIMIT $1", PAGE + 1
                )
                owner_ids = list({r["owner_id"] for r in rows[:PAGE] if r["owner_id"]})
                found = await conn.fetch(
                    f"SELECT * FROM {owners_table} WHERE id = ANY($1::text[])", owner_ids
                )
                team_ids = list({o["team_id"] for o in found if o["team_id"]})
                await conn.fetch(
                    f"SELECT * FROM {teams_table} WHERE id = ANY($1::text[])", team_ids
                )
                return list(rows)

        return [
            await best_of(
                "get by id",
                lambda: repo.get("w000777"),
                lambda: pool.fetchrow(f"SELECT * FROM {widgets_table} WHERE id = $1", "w000777"),
            ),
            await best_of("create", repo_create, raw_create),
            await best_of(
                f"filtered page ({PAGE})",
                lambda: repo.find(page_query),
                lambda: pool.fetch(raw_page_sql, "active", 10, PAGE + 1),
            ),
            await best_of(
                f"populated view page ({PAGE})",
                lambda: view.find(Query(limit=PAGE), include=["owner.team"]),
                raw_view_page,
                repeat=50,
            ),
        ]
    finally:
        await pool.close()
        await provider.close()
        await drop_tables(url, [spec.collection for spec in registry])


def main() -> None:
    url = postgres_url()
    rows = asyncio.run(run(url))
    print_table(f"postgres ({url.split('@')[-1]}, {WIDGETS} rows)", rows)


if __name__ == "__main__":
    main()
