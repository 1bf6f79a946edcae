"""MongoDB: the repository against raw ``AsyncMongoClient`` calls, same server, same data.

    PYTHONPATH=src python -m benchmarks.bench_mongo [--quick]

Uses ``TEST_MONGO_DSN`` when set, otherwise starts mongoeco's wire server (``mongoeco[wire]``)
in a child process, so the emulator does not share the benchmark's interpreter lock. On the
emulator only the ratio means anything: its own cost dominates, and it slows down sharply as
a collection grows (thousands of inserts take tens of seconds), so the data set stays small
(500 widgets, batches of 200) and every write is deleted again between samples.

Besides the shared scenario (:mod:`.harness`), both this module and ``bench_dynamodb`` time a
lookup by the unique sku, the filtered page in the kit's default order (by id here) and a
filtered count.
"""

from __future__ import annotations

import os
import subprocess
import sys
import timeit
import uuid
from collections.abc import Sequence
from typing import Any

from bson.decimal128 import Decimal128
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from {{cookiecutter.package_name}}.adapters.persistence.codec import from_record, to_record
from {{cookiecutter.package_name}}.adapters.persistence.mongo import MongoBackend
from {{cookiecutter.package_name}}.adapters.persistence.mongo.codec import from_bson, to_bson
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.query import Query

from benchmarks.harness import PAGE, Measurement, Report, Sizes, compare, run_scenario, widget
from tests.support.entities import Widget, build_registry

# mongoeco's inserts slow down with the batch and the collection: one insert_many of 1000
# documents takes over 5 s, so on the emulator the batch is 200 (1000 on a real server).
EMULATOR_SIZES = Sizes(widgets=500, owners=50, teams=5, batch=200, repeat=30, batch_repeat=3)
TIMEOUT_MS = 60_000  # the emulator's slowest batch, with a wide margin
SERVER_SIZES = Sizes(widgets=5_000, owners=100, teams=10)

Document = dict[str, Any]

PAGE_FILTER: Document = {"status": "active", "quantity": {"$gte": 10}}  # the harness's page

_SERVE = """
import asyncio
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

async def main():
    async with AsyncMongoEcoProxyServer(host="127.0.0.1", port=0) as proxy:
        print(proxy.address.uri, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    """mongoeco's wire server in a child process; returns it and its URI."""
    process = subprocess.Popen([sys.executable, "-c", _SERVE], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    uri = process.stdout.readline().strip()
    if not uri.startswith("mongodb://"):
        process.kill()
        process.wait(timeout=10)
        raise RuntimeError("mongoeco[wire] did not start; set TEST_MONGO_DSN instead")
    return process, uri


class RawMongo:
    def __init__(
        self,
        widgets: AsyncCollection[Document],
        owners: AsyncCollection[Document],
        teams: AsyncCollection[Document],
    ) -> None:
        self.widgets, self.owners, self.teams = widgets, owners, teams

    @staticmethod
    def _document(item: Widget) -> Document:
        return {
            "_id": item.id,
            "sku": item.sku,
            "name": item.name,
            "barcode": None,
            "price": Decimal128(item.price),
            "quantity": item.quantity,
            "weight": None,
            "active": True,
            "status": item.status.value,
            "tags": list(item.tags),
            "labels": [],
            "created_at": item.created_at,
            "released_on": None,
            "ref": None,
            "dims": None,
            "attributes": {},
            "owner_id": item.owner_id,
            "version": 1,
        }

    async def get(self, key: str) -> object:
        return await self.widgets.find_one({"_id": key})

    async def create(self, item: Widget) -> object:
        return await self.widgets.insert_one(self._document(item))

    async def filtered_page(self, limit: int) -> object:
        return await self.widgets.find(
            PAGE_FILTER, sort=[("quantity", -1), ("_id", 1)], limit=limit + 1
        ).to_list()

    async def unsorted_page(self, limit: int) -> object:
        """The kit's order without a sort: by id."""
        return await self.widgets.find(PAGE_FILTER, sort=[("_id", 1)], limit=limit + 1).to_list()

    async def by_sku(self, sku: str) -> object:
        return await self.widgets.find_one({"sku": sku})

    async def count(self) -> int:
        return await self.widgets.count_documents(PAGE_FILTER)

    async def view_page(self, limit: int) -> object:
        rows = await self.widgets.find({}, sort=[("_id", 1)], limit=limit + 1).to_list()
        owner_ids = list({r["owner_id"] for r in rows[:limit] if r.get("owner_id")})
        found = await self.owners.find({"_id": {"$in": owner_ids}}).to_list()
        team_ids = list({o["team_id"] for o in found if o.get("team_id")})
        await self.teams.find({"_id": {"$in": team_ids}}).to_list()
        return rows

    async def add_many(self, items: Sequence[Widget]) -> object:
        return await self.widgets.insert_many([self._document(i) for i in items])

    async def delete(self, keys: Sequence[str]) -> object:
        return await self.widgets.delete_many({"_id": {"$in": list(keys)}})


async def _measure(dsn: str, sizes: Sizes, report: Report) -> None:
    database = f"bench_{uuid.uuid4().hex[:8]}"
    registry = build_registry("bench")
    backend = MongoBackend(dsn, database, timeout_ms=TIMEOUT_MS)
    provider = RepositoryProvider(registry, {"mongo": lambda: backend}, "mongo")
    await provider.start(create_schema=True)
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        dsn, tz_aware=True, uuidRepresentation="standard", timeoutMS=TIMEOUT_MS
    )
    db = client[database]
    raw = RawMongo(
        db[registry.get("widget").collection],
        db[registry.get("owner").collection],
        db[registry.get("team").collection],
    )
    try:
        report.rows = await run_scenario(provider, raw, sizes)
        report.rows += await more_operations(provider, raw, sizes)
    finally:
        await client.drop_database(database)
        await client.close()
        await provider.close()


async def more_operations(
    provider: RepositoryProvider, raw: RawMongo, sizes: Sizes
) -> list[Measurement]:
    """What the shared scenario does not time (the same rows as ``bench_dynamodb``): a lookup
    by the unique sku, the filtered page in the kit's default order, and count."""
    repo = provider.of(Widget)
    sku = widget(sizes.widgets // 3, "").sku
    unsorted = Query(filter={"status": "active", "quantity": {"gte": 10}}, limit=PAGE)
    counted = {"status": "active", "quantity": {"gte": 10}}
    repeat, rounds = sizes.repeat, sizes.rounds
    return [
        await compare(
            "lookup by unique sku",
            lambda: repo.get_by("sku", sku),
            lambda: raw.by_sku(sku),
            repeat=repeat,
            rounds=rounds,
        ),
        await compare(
            f"filtered page, table order ({PAGE})",
            lambda: repo.find(unsorted),
            lambda: raw.unsorted_page(PAGE),
            repeat=repeat,
            rounds=rounds,
        ),
        await compare(
            "count (filtered)", lambda: repo.count(counted), raw.count, repeat=repeat, rounds=rounds
        ),
    ]


def codec_cost_us() -> tuple[float, float]:
    """The adapter's own CPU per entity, without any I/O: encode to BSON-safe, decode back."""
    entity = widget(1, "owner")
    document = to_bson(to_record(entity))
    number = 5_000
    encode = timeit.timeit(lambda: to_bson(to_record(entity)), number=number)
    decode = timeit.timeit(lambda: from_record(Widget, from_bson(document)), number=number)
    return encode / number * 1e6, decode / number * 1e6


async def run(quick: bool = False) -> Report:
    dsn = os.environ.get("TEST_MONGO_DSN")
    report = Report("mongo", ratios_only=not dsn)
    sizes = SERVER_SIZES if dsn else EMULATOR_SIZES
    sizes = sizes.quick() if quick else sizes
    emulator = None
    if not dsn:
        try:
            emulator, dsn = start_emulator()
        except (OSError, RuntimeError) as exc:
            report.skipped = str(exc)
            return report
    try:
        await _measure(dsn, sizes, report)
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=10)
    where = "TEST_MONGO_DSN" if emulator is None else "mongoeco wire server in its own process"
    encode, decode = codec_cost_us()
    report.notes.append(
        f"{where}, {sizes.widgets} widgets; codec per entity without I/O:"
        f" encode {encode:.1f} us, decode {decode:.1f} us"
    )
    return report


if __name__ == "__main__":
    from benchmarks.run import main

    main(["--backends", "mongo", *sys.argv[1:]])
