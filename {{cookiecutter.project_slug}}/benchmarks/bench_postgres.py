"""PostgreSQL: the repository against raw asyncpg, same server, same tables, same data.

    PYTHONPATH=src python -m benchmarks.bench_postgres [--quick]
    PYTHONPATH=src python -m benchmarks.bench_postgres --profile [OPERATION]

Uses ``TEST_POSTGRES_DSN`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``).
The raw side is what a hand-written data layer would send: the same SQL, each statement
prepared once per connection, rows left as asyncpg records, ``executemany`` for a batch (it
is all-or-nothing on its own; the kit writes a batch with one COPY, so a second row compares
it with a hand-written COPY too). It runs twice: on one connection held for the whole run (the
floor: nothing but the round trip) and on an asyncpg pool, acquiring and releasing a
connection per operation (its release sends a reset query: one more round trip). Ratios are
against the held connection. The repository side also validates the query, revives typed
entities and builds cursors, so the ratio is the whole cost of the abstraction.

``--profile`` runs each operation (or the one named) through the repository under cProfile
and prints where the time goes, instead of the comparison.
"""

from __future__ import annotations

import asyncio
import cProfile
import itertools
import json
import pstats
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from {{cookiecutter.package_name}}.adapters.persistence.postgres import PostgresBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.query import Query

from benchmarks.harness import PAGE, VIEW_PAGE, Measurement, Report, Sizes, median_ms, seed
from benchmarks.harness import widget as make_widget
from tests.support.backend_postgres import drop_tables, postgres_url, raw_dsn
from tests.support.entities import Widget, build_registry

SIZES = Sizes(widgets=5_000, owners=100, teams=10, rounds=5)  # round trips are ~50 us: noisy
Action = Callable[[], Awaitable[object]]

COLUMNS = (
    "id, sku, name, barcode, price, quantity, weight, active, status, tags, labels,"
    " created_at, released_on, ref, dims, attributes, owner_id, version"
)
COPY_COLUMNS = COLUMNS.split(", ")


class RawPostgres:
    """The operations in plain SQL on asyncpg, on one held connection or through a pool."""

    def __init__(self, db: Any, widgets: str, owners: str, teams: str) -> None:
        self.db = db  # an asyncpg Connection or Pool: both fetch, fetchrow, fetchval...
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
        return await self.db.fetchrow(f"SELECT * FROM {self.widgets} WHERE id = $1", key)

    async def get_by(self, sku: str) -> object:
        return await self.db.fetchrow(f"SELECT * FROM {self.widgets} WHERE sku = $1", sku)

    async def filtered_page(self, limit: int) -> object:
        return await self.db.fetch(
            f"SELECT * FROM {self.widgets} WHERE status = $1 AND quantity >= $2"
            " ORDER BY quantity DESC, id ASC LIMIT $3",
            "active",
            10,
            limit + 1,
        )

    async def count(self) -> object:
        return await self.db.fetchval(
            f"SELECT count(*) FROM {self.widgets} WHERE status = $1", "active"
        )

    async def create(self, item: Widget) -> object:
        return await self.db.execute(self.insert, *self._args(item))

    async def view_page(self, limit: int) -> object:
        if isinstance(self.db, asyncpg.Pool):
            async with self.db.acquire() as conn:
                return await self._view_page(conn, limit)
        return await self._view_page(self.db, limit)

    async def _view_page(self, conn: Any, limit: int) -> object:
        rows = await conn.fetch(f"SELECT * FROM {self.widgets} ORDER BY id LIMIT $1", limit + 1)
        owner_ids = list({r["owner_id"] for r in rows[:limit] if r["owner_id"]})
        found = await conn.fetch(
            f"SELECT * FROM {self.owners} WHERE id = ANY($1::text[])", owner_ids
        )
        team_ids = list({o["team_id"] for o in found if o["team_id"]})
        await conn.fetch(f"SELECT * FROM {self.teams} WHERE id = ANY($1::text[])", team_ids)
        return rows

    async def add_many(self, items: Sequence[Widget]) -> object:
        return await self.db.executemany(self.insert, [self._args(i) for i in items])

    async def copy_many(self, items: Sequence[Widget]) -> object:
        """The kit's own way to write a batch, by hand: one COPY of every column."""
        return await self.db.copy_records_to_table(
            self.widgets, records=[self._row(i) for i in items], columns=COPY_COLUMNS
        )

    @staticmethod
    def _row(item: Widget) -> tuple[object, ...]:
        """Every column's value, the INSERT's literals included."""
        key, sku, name, price, quantity, status, tags, created_at, owner = RawPostgres._args(item)
        nothing = (None, None, None)
        return (
            *(key, sku, name, None, price, quantity, None, True, status, tags, "[]", created_at),
            *(*nothing, "{}", owner, 1),
        )

    async def delete(self, keys: Sequence[str]) -> object:
        return await self.db.execute(
            f"DELETE FROM {self.widgets} WHERE id = ANY($1::text[])", list(keys)
        )


@dataclass(frozen=True)
class Operation:
    name: str
    repository: Action
    held: Action
    pool: Action
    batch: bool = False  # add_many: fewer samples, untimed clean-up after each


class Scenario:
    """The data and the operations, on the repository and on both raw sides."""

    def __init__(
        self, provider: RepositoryProvider, held: RawPostgres, pool: RawPostgres, sizes: Sizes
    ) -> None:
        self.provider, self.held, self.pool, self.sizes = provider, held, pool, sizes
        self.fresh = itertools.count(10_000_000)  # ids never used by the seed
        self.made: list[str] = []
        self.owner_ids: list[str] = []

    def new_widget(self) -> Widget:
        n = next(self.fresh)
        self.made.append(f"w{n:07d}")
        return make_widget(n, self.owner_ids[n % len(self.owner_ids)])

    async def forget(self) -> None:
        if self.made:
            await self.held.delete(list(self.made))
            self.made.clear()

    def operations(self) -> list[Operation]:
        repo = self.provider.of(Widget)
        view = self.provider.view("widget")
        middle = make_widget(self.sizes.widgets // 2, "")
        page = Query(
            filter={"status": "active", "quantity": {"gte": 10}}, sort="-quantity", limit=PAGE
        )
        batch = self.sizes.batch
        held, pool = self.held, self.pool

        def both(call: Callable[[RawPostgres], Awaitable[object]]) -> tuple[Action, Action]:
            return (lambda: call(held)), (lambda: call(pool))

        def adding(side: Callable[[Widget], Awaitable[object]]) -> Action:
            return lambda: side(self.new_widget())

        def adding_many(side: Callable[[list[Widget]], Awaitable[object]]) -> Action:
            return lambda: side([self.new_widget() for _ in range(batch)])

        return [
            Operation("get by id", lambda: repo.get(middle.id), *both(lambda r: r.get(middle.id))),
            Operation(
                "lookup by unique sku",
                lambda: repo.get_by("sku", middle.sku),
                *both(lambda r: r.get_by(middle.sku)),
            ),
            Operation(
                f"filtered page ({PAGE})",
                lambda: repo.find(page),
                *both(lambda r: r.filtered_page(PAGE)),
            ),
            Operation(
                "count (status)",
                lambda: repo.count({"status": "active"}),
                *both(lambda r: r.count()),
            ),
            Operation(
                "add", adding(repo.add), adding(held.create), adding(pool.create), batch=True
            ),
            Operation(
                f"populated view page ({VIEW_PAGE})",
                lambda: view.find(Query(limit=VIEW_PAGE), include=["owner.team"]),
                *both(lambda r: r.view_page(VIEW_PAGE)),
            ),
            Operation(
                f"add_many ({batch})",
                adding_many(repo.add_many),
                adding_many(held.add_many),
                adding_many(pool.add_many),
                batch=True,
            ),
            Operation(
                f"add_many ({batch}), raw COPY",
                adding_many(repo.add_many),
                adding_many(held.copy_many),
                adding_many(pool.copy_many),
                batch=True,
            ),
        ]

    async def measure(self, op: Operation) -> Measurement:
        """Alternate the three sides, best median of each over the rounds."""
        sizes = self.sizes
        big = op.name.startswith("add_many")
        repeat = sizes.batch_repeat if big else sizes.repeat
        warmup = 1 if big else 2
        reset = self.forget if op.batch else None
        best: dict[str, float] = {}
        for _ in range(sizes.rounds):
            for side, action in (("repo", op.repository), ("held", op.held), ("pool", op.pool)):
                ms = await median_ms(action, repeat, warmup, reset)
                best[side] = min(ms, best.get(side, ms))
        return Measurement(op.name, best["repo"], best["held"], raw_pool_ms=best["pool"])


async def _setup(sizes: Sizes) -> tuple[Scenario, Callable[[], Awaitable[None]]] | str:
    """A seeded scenario and how to tear it down, or why there is none."""
    url = postgres_url()
    try:
        conn = await asyncpg.connect(raw_dsn(url), timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"{url.split('@')[-1]} unreachable ({type(exc).__name__})"
    registry = build_registry(f"bench_{uuid.uuid4().hex[:8]}")
    backend = PostgresBackend(url, pool_size=4, max_overflow=0, pool_timeout=10.0)
    provider = RepositoryProvider(registry, {"postgres": lambda: backend}, "postgres")
    await provider.start(create_schema=True)
    pool = await asyncpg.create_pool(raw_dsn(url), min_size=4, max_size=4)
    names = [registry.get(name).collection for name in ("widget", "owner", "team")]
    scenario = Scenario(provider, RawPostgres(conn, *names), RawPostgres(pool, *names), sizes)

    async def teardown() -> None:
        await pool.close()
        await conn.close()
        await provider.close()
        await drop_tables(url, [spec.collection for spec in registry])

    try:
        scenario.owner_ids = await seed(provider, sizes)
        await conn.execute(f"ANALYZE {names[0]}")
    except BaseException:
        await teardown()
        raise
    return scenario, teardown


async def run(quick: bool = False) -> Report:
    sizes = SIZES.quick() if quick else SIZES
    report = Report("postgres")
    ready = await _setup(sizes)
    if isinstance(ready, str):
        report.skipped = ready
        return report
    scenario, teardown = ready
    try:
        report.rows = [await scenario.measure(op) for op in scenario.operations()]
        report.notes.append(
            f"{postgres_url().split('@')[-1]}, {sizes.widgets} widgets; raw = asyncpg, the same"
            " SQL prepared once per connection, on one held connection (ratio) and through an"
            " asyncpg pool (acquire/release per operation); executemany for add_many, and a"
            " COPY of every column for 'raw COPY'"
        )
    finally:
        await teardown()
    return report


async def profile(only: str | None, samples: int = 2_000) -> None:
    """cProfile of the repository side of each operation (or those whose name starts with
    ``only``): the top entries by own time."""
    ready = await _setup(SIZES)
    if isinstance(ready, str):
        print(f"skipped: {ready}")
        return
    scenario, teardown = ready
    try:
        for op in scenario.operations():
            if only and not op.name.startswith(only):
                continue
            count = max(5, samples // 200) if op.name.startswith("add_many") else samples
            for _ in range(20):
                await op.repository()
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            for _ in range(count):
                await op.repository()
                if op.batch:
                    profiler.disable()
                    await scenario.forget()
                    profiler.enable()
            profiler.disable()
            elapsed = (time.perf_counter() - started) / count * 1000
            print(f"\n=== {op.name}: {elapsed:.3f} ms per call under the profiler ===")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    finally:
        await teardown()


if __name__ == "__main__":
    if "--profile" in sys.argv:
        rest = [a for a in sys.argv[1:] if a != "--profile"]
        asyncio.run(profile(" ".join(rest) or None))
    else:
        from benchmarks.run import main

        main(["--backends", "postgres", *sys.argv[1:]])
