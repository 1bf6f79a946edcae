"""MongoDB: the repository against raw ``AsyncMongoClient`` calls, same server, same data.

    PYTHONPATH=src python -m benchmarks.bench_mongo

Uses ``TEST_MONGO_DSN`` when set, otherwise starts mongoeco's wire server (``mongoeco[wire]``)
in a child process, so the emulator does not share the benchmark's interpreter lock. Each
comparison runs three rounds and keeps the best time of each side: the emulator's own cost
dominates and drifts, the ratio is what the adapter adds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import subprocess
import sys
import timeit
import uuid
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128
from pymongo import AsyncMongoClient

from benchmarks.harness import Measurement, compare, print_table
from {{cookiecutter.package_name}}.adapters.persistence.codec import from_record, to_record
from {{cookiecutter.package_name}}.adapters.persistence.mongo import MongoBackend
from {{cookiecutter.package_name}}.adapters.persistence.mongo.codec import from_bson, to_bson
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.query import Query

from tests.support.entities import Owner, Status, Team, Widget, build_registry

WIDGETS = 500  # the emulator slows down as a collection grows; a real server takes more
OWNERS = 50
TEAMS = 5
PAGE = 20
ROUNDS = 3

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
        raise SystemExit("mongoeco[wire] did not start; set TEST_MONGO_DSN instead")
    return process, uri


async def best_of(operation: str, repository: Any, raw: Any, repeat: int = 50) -> Measurement:
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


async def run(dsn: str) -> list[Measurement]:
    database = f"bench_{uuid.uuid4().hex[:8]}"
    registry = build_registry("bench")
    backend = MongoBackend(dsn, database, timeout_ms=5_000)
    provider = RepositoryProvider(registry, {"mongo": lambda: backend}, "mongo")
    await provider.start(create_schema=True)
    raw_client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        dsn, tz_aware=True, uuidRepresentation="standard"
    )
    db = raw_client[database]
    raw_widgets = db[registry.get("widget").collection]
    raw_owners = db[registry.get("owner").collection]
    raw_teams = db[registry.get("team").collection]
    try:
        teams = await provider.of(Team).add_many([Team(name=f"t{i}") for i in range(TEAMS)])
        owners = await provider.of(Owner).add_many(
            [
                Owner(name=f"o{i}", email=f"o{i}@x.io", team_id=teams[i % TEAMS].id)
                for i in range(OWNERS)
            ]
        )
        repo = provider.of(Widget)
        for start in range(0, WIDGETS, 100):
            await repo.add_many(
                [widget(n, owners[n % OWNERS].id) for n in range(start, start + 100)]
            )
        view = provider.view("widget")
        counter = itertools.count(WIDGETS)

        async def repo_create() -> None:
            await repo.add(widget(next(counter), owners[0].id))

        async def raw_create() -> None:
            n = next(counter)
            await raw_widgets.insert_one(
                {
                    "_id": f"w{n:06d}",
                    "sku": f"SKU-{n:06d}",
                    "name": f"widget {n}",
                    "barcode": None,
                    "price": Decimal128(f"{n % 100}.99"),
                    "quantity": n % 50,
                    "weight": None,
                    "active": True,
                    "status": "active",
                    "tags": ["red"],
                    "labels": [],
                    "created_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                    "released_on": None,
                    "ref": None,
                    "dims": None,
                    "attributes": {},
                    "owner_id": owners[0].id,
                    "version": 1,
                }
            )

        page_query = Query(
            filter={"status": "active", "quantity": {"gte": 10}}, sort="-quantity", limit=PAGE
        )

        async def raw_page() -> list[dict[str, Any]]:
            return await raw_widgets.find(
                {"status": "active", "quantity": {"$gte": 10}},
                sort=[("quantity", -1), ("_id", 1)],
                limit=PAGE + 1,
            ).to_list()

        async def raw_view_page() -> list[dict[str, Any]]:
            rows = await raw_widgets.find({}, sort=[("_id", 1)], limit=PAGE + 1).to_list()
            owner_ids = list({r["owner_id"] for r in rows[:PAGE] if r.get("owner_id")})
            found = await raw_owners.find({"_id": {"$in": owner_ids}}).to_list()
            team_ids = list({o["team_id"] for o in found if o.get("team_id")})
            await raw_teams.find({"_id": {"$in": team_ids}}).to_list()
            return rows

        return [
            await best_of(
                "get by id",
                lambda: repo.get("w000777"),
                lambda: raw_widgets.find_one({"_id": "w000777"}),
            ),
            await best_of("create", repo_create, raw_create),
            await best_of("filtered page (20)", lambda: repo.find(page_query), raw_page),
            await best_of(
                "populated view page (20)",
                lambda: view.find(Query(limit=PAGE), include=["owner.team"]),
                raw_view_page,
                repeat=30,
            ),
        ]
    finally:
        await raw_client.drop_database(database)
        await raw_client.close()
        await provider.close()


def codec_cost_us() -> tuple[float, float]:
    """The adapter's own CPU per entity, without any I/O: encode to BSON-safe, decode back."""
    entity = widget(1, "owner")
    document = to_bson(to_record(entity))
    number = 5_000
    encode = timeit.timeit(lambda: to_bson(to_record(entity)), number=number)
    decode = timeit.timeit(lambda: from_record(Widget, from_bson(document)), number=number)
    return encode / number * 1e6, decode / number * 1e6


def main() -> None:
    dsn = os.environ.get("TEST_MONGO_DSN")
    emulator = None
    if not dsn:
        emulator, dsn = start_emulator()
    try:
        rows = asyncio.run(run(dsn))
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=10)
    label = "TEST_MONGO_DSN" if emulator is None else "mongoeco wire server, own process"
    print_table(f"mongo ({label})", rows)
    encode, decode = codec_cost_us()
    print(f"codec per entity: encode {encode:.1f} us, decode {decode:.1f} us")


if __name__ == "__main__":
    main()
