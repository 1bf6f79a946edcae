"""DynamoDB: the repository against raw aioboto3 client calls, same server, same data.

    PYTHONPATH=src python -m benchmarks.bench_dynamodb [--quick]

Uses ``TEST_DYNAMODB_ENDPOINT`` when set, otherwise starts moto's server in a child process
(so the emulator does not share the benchmark's interpreter lock). The raw side does the work
the adapter must do to keep its guarantees, written by hand: a create is the same
TransactWriteItems with the sku's uniqueness item, the sorted filtered page reads the same
GSI partition and sorts it in Python (DynamoDB cannot sort by quantity), add_many is the same
transactions of 100 actions. So the ratio is what the adapter adds: expression building,
(de)serialisation, entity mapping.

Besides the shared scenario (:mod:`.harness`), both this module and ``bench_mongo`` time a
lookup by the unique sku (a Query on its GSI), the filtered page in the kit's default order
(DynamoDB's) and a filtered count (``Select=COUNT``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import timeit
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aioboto3
from aiobotocore.config import AioConfig

from {{cookiecutter.package_name}}.adapters.persistence.codec import from_record, to_record
from {{cookiecutter.package_name}}.adapters.persistence.dynamodb import DynamoDbBackend
from {{cookiecutter.package_name}}.adapters.persistence.dynamodb.serialization import (
    from_av,
    to_av,
)
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.query import Query
from {{cookiecutter.package_name}}.ports.schema import schema_of

from benchmarks.harness import PAGE, Measurement, Report, Sizes, compare, run_scenario, widget
from tests.support.entities import Widget, build_registry

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

# moto copies every table a transaction touches (for its rollback), so its transactions slow
# down as tables grow: keep the emulator's data small.
EMULATOR_SIZES = Sizes(widgets=500, owners=50, teams=5, batch=100, repeat=20, batch_repeat=2)
SERVER_SIZES = Sizes(widgets=5_000, owners=100, teams=10)
REGION = "us-east-1"
KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID", "bench")
SECRET = os.environ.get("AWS_SECRET_ACCESS_KEY", "bench")

Row = dict[str, Any]


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """moto's server in a child process on a free port; returns it and its endpoint."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    process.kill()
    process.wait(timeout=10)
    raise RuntimeError("moto's server did not start; set TEST_DYNAMODB_ENDPOINT instead")


def decode(items: Sequence[Any]) -> list[Row]:
    return [{k: from_av(v) for k, v in item.items()} for item in items]


class RawDynamo:
    def __init__(self, client: DynamoDBClient, tables: dict[str, str]) -> None:
        self.client = client
        self.widgets, self.unique = tables["widget"], tables["widget_unique"]
        self.owners, self.teams = tables["owner"], tables["team"]

    @staticmethod
    def _item(w: Widget) -> dict[str, Any]:
        return {
            "id": {"S": w.id},
            "sku": {"S": w.sku},
            "name": {"S": w.name},
            "barcode": {"NULL": True},
            "price": {"N": str(w.price)},
            "quantity": {"N": str(w.quantity)},
            "weight": {"NULL": True},
            "active": {"BOOL": True},
            "status": {"S": w.status.value},
            "tags": {"L": [{"S": t} for t in w.tags]},
            "labels": {"L": []},
            "created_at": {"S": w.created_at.isoformat(timespec="microseconds")},
            "released_on": {"NULL": True},
            "ref": {"NULL": True},
            "dims": {"NULL": True},
            "attributes": {"M": {}},
            "owner_id": {"S": w.owner_id or ""},
            "version": {"N": "1"},
            "_ix_sku": {"S": f"s:{w.sku}"},
            "_ix_status": {"S": f"s:{w.status.value}"},
            "_ix_owner_id": {"S": f"s:{w.owner_id}"},
        }

    def _actions(self, w: Widget) -> list[Any]:
        return [
            {
                "Put": {
                    "TableName": self.widgets,
                    "Item": self._item(w),
                    "ConditionExpression": "attribute_not_exists(id)",
                }
            },
            {
                "Put": {
                    "TableName": self.unique,
                    "Item": {"key": {"S": f"UNIQUE#sku#s:{w.sku}"}, "owner": {"S": w.id}},
                    "ConditionExpression": "attribute_not_exists(#k)",
                    "ExpressionAttributeNames": {"#k": "key"},
                }
            },
        ]

    async def get(self, key: str) -> object:
        response = await self.client.get_item(
            TableName=self.widgets, Key={"id": {"S": key}}, ConsistentRead=True
        )
        return decode([response["Item"]])

    async def create(self, item: Widget) -> object:
        return await self.client.transact_write_items(TransactItems=self._actions(item))

    def _active_query(self) -> dict[str, Any]:
        return {
            "TableName": self.widgets,
            "IndexName": "ix_status",
            "KeyConditionExpression": "#s = :s",
            "FilterExpression": "quantity >= :q",
            "ExpressionAttributeNames": {"#s": "_ix_status"},
            "ExpressionAttributeValues": {":s": {"S": "s:active"}, ":q": {"N": "10"}},
        }

    async def filtered_page(self, limit: int) -> object:
        params = self._active_query()
        rows: list[Row] = []
        while True:
            response = await self.client.query(**params)
            rows.extend(decode(response["Items"]))
            if "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        rows.sort(key=lambda r: (-r["quantity"], r["id"]))
        return rows[: limit + 1]

    async def unsorted_page(self, limit: int) -> object:
        params = self._active_query()
        rows: list[Row] = []
        while len(rows) <= limit:
            response = await self.client.query(**params)
            rows.extend(decode(response["Items"]))
            if "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return rows[: limit + 1]

    async def by_sku(self, sku: str) -> object:
        response = await self.client.query(
            TableName=self.widgets,
            IndexName="ix_sku",
            KeyConditionExpression="#k = :v",
            ExpressionAttributeNames={"#k": "_ix_sku"},
            ExpressionAttributeValues={":v": {"S": f"s:{sku}"}},
        )
        return decode(response["Items"])

    async def count(self) -> int:
        params: dict[str, Any] = {**self._active_query(), "Select": "COUNT"}
        total = 0
        while True:
            response = await self.client.query(**params)
            total += response["Count"]
            if "LastEvaluatedKey" not in response:
                return total
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    async def _batch_get(self, table: str, keys: Sequence[str]) -> list[Row]:
        if not keys:
            return []
        response = await self.client.batch_get_item(
            RequestItems={table: {"Keys": [{"id": {"S": k}} for k in keys], "ConsistentRead": True}}
        )
        return decode(response["Responses"][table])

    async def view_page(self, limit: int) -> object:
        response = await self.client.scan(TableName=self.widgets, Limit=limit + 1)
        rows = decode(response["Items"])
        owners = await self._batch_get(
            self.owners, list({r["owner_id"] for r in rows[:limit] if r.get("owner_id")})
        )
        await self._batch_get(self.teams, list({o["team_id"] for o in owners if o.get("team_id")}))
        return rows

    async def add_many(self, items: Sequence[Widget]) -> object:
        for start in range(0, len(items), 50):
            actions = [a for w in items[start : start + 50] for a in self._actions(w)]
            await self.client.transact_write_items(TransactItems=actions)
        return items

    async def delete(self, keys: Sequence[str]) -> object:
        requests: list[Any] = [{"DeleteRequest": {"Key": {"id": {"S": k}}}} for k in keys]
        for start in range(0, len(requests), 25):
            await self.client.batch_write_item(
                RequestItems={self.widgets: requests[start : start + 25]}
            )
        return None


async def _measure(endpoint: str, sizes: Sizes, report: Report) -> None:
    registry = build_registry("bench")
    backend = DynamoDbBackend(
        region=REGION,
        endpoint_url=endpoint,
        table_prefix=f"bench{uuid.uuid4().hex[:6]}-",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        read_timeout=120.0,  # as patient as the raw client (moto's transactions are slow)
    )
    provider = RepositoryProvider(registry, {"dynamodb": lambda: backend}, "dynamodb")
    await provider.start(create_schema=True)
    widget_layout = backend.layout(registry.get("widget"))
    tables = {
        "widget": widget_layout.table,
        "widget_unique": str(widget_layout.unique_table),
        "owner": backend.layout(registry.get("owner")).table,
        "team": backend.layout(registry.get("team")).table,
    }
    try:
        async with aioboto3.Session().client(
            "dynamodb",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            config=AioConfig(read_timeout=120),
        ) as client:
            raw = RawDynamo(client, tables)
            report.rows = await run_scenario(provider, raw, sizes)
            report.rows += await more_operations(provider, raw, sizes)
    finally:
        await backend.drop(list(registry))
        await provider.close()


async def more_operations(
    provider: RepositoryProvider, raw: RawDynamo, sizes: Sizes
) -> list[Measurement]:
    """What the shared scenario does not time (the same rows as ``bench_mongo``): a lookup by
    the unique sku, the filtered page in the kit's default order, and count."""
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
    """The adapter's own CPU per entity, without any I/O: encode to an item, decode back."""
    entity = widget(1, "owner")
    fields = schema_of(Widget).fields
    item = {k: to_av(v, fields[k]) for k, v in to_record(entity).items()}
    number = 5_000
    encode = timeit.timeit(
        lambda: {k: to_av(v, fields[k]) for k, v in to_record(entity).items()}, number=number
    )
    decode_time = timeit.timeit(
        lambda: from_record(Widget, {k: from_av(v, fields[k]) for k, v in item.items()}),
        number=number,
    )
    return encode / number * 1e6, decode_time / number * 1e6


async def run(quick: bool = False) -> Report:
    endpoint = os.environ.get("TEST_DYNAMODB_ENDPOINT")
    report = Report("dynamodb", ratios_only=True)  # moto or DynamoDB Local: emulators
    sizes = SERVER_SIZES if endpoint else EMULATOR_SIZES
    sizes = sizes.quick() if quick else sizes
    emulator = None
    if not endpoint:
        try:
            emulator, endpoint = start_moto()
        except (OSError, RuntimeError) as exc:
            report.skipped = str(exc)
            return report
    try:
        await _measure(endpoint, sizes, report)
    finally:
        if emulator is not None:
            emulator.terminate()
            try:
                emulator.wait(timeout=10)
            except subprocess.TimeoutExpired:
                emulator.kill()
                emulator.wait(timeout=10)
    where = "TEST_DYNAMODB_ENDPOINT" if emulator is None else "moto server in its own process"
    encode, decode_us = codec_cost_us()
    report.notes.append(
        f"{where}, {sizes.widgets} widgets; codec per entity without I/O:"
        f" encode {encode:.1f} us, decode {decode_us:.1f} us"
    )
    return report


if __name__ == "__main__":
    from benchmarks.run import main

    main(["--backends", "dynamodb", *sys.argv[1:]])
