"""The DynamoDB table layout of an entity, and its idempotent provisioning.

Per entity (``<prefix><collection>``):

- the entity table, partition key = the id attribute (``S``); one item per entity;
- one GSI ``ix_<field>`` per declared index and unique field, keyed on ``_ix_<field>``: the
  field's value as a typed string (``s:…``, ``n:…``, ``b:1``), absent when the value is null,
  so the index is sparse and empty strings/numbers/booleans are all indexable; projection ALL;
- the TTL attribute ``_ttl`` (epoch seconds), enabled as the table's TTL;
- when the entity has unique constraints, a companion table ``<table>-unique`` with partition
  key ``key`` = ``UNIQUE#<field>#<typed value>`` (a compound constraint:
  ``UNIQUE#<a>+<b>#<JSON list of typed values>``) and the owner's id in ``owner`` (and a copy of
  the owner's ``_ttl``). The entity item and its uniqueness items are only ever written
  together, in one ``TransactWriteItems``, so a value is claimed, moved or released atomically;
- the local field of every enforced reference (a relation with ``on_delete``) has a GSI, so
  deleting a target finds its children with a Query, never a Scan;
- on a target of enforced references, one hidden counter per referencing relation,
  ``_ref_<child entity>_<field>``: how many children point at the item. Children change it in
  the transaction that stores them (guarded by the target being there), so a delete guarded by
  the counter (0 for restrict, the number of children it handles for cascade/set_null) can never
  leave an orphan. Hidden attributes never reach entities, filters, counts or distinct values.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ....ports.schema import SCALAR_KINDS
from ..registry import EntitySpec
from .errors import driver_errors, error_code

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

TTL_ATTRIBUTE = "_ttl"
UNIQUE_KEY = "key"
UNIQUE_OWNER = "owner"
UNIQUE_SUFFIX = "-unique"
MAX_GSIS = 20


REFERENCE_PREFIX = "_ref_"


def counter_attribute(child: str, field: str) -> str:
    """The hidden attribute counting the ``child`` items whose ``field`` points at an item."""
    return f"{REFERENCE_PREFIX}{child}_{field}"


def index_attribute(field: str) -> str:
    return f"_ix_{field}"


def index_name(field: str) -> str:
    return f"ix_{field}"


@dataclass(frozen=True)
class Layout:
    table: str
    unique_table: str | None
    id_attribute: str
    indexed: tuple[str, ...]  # fields with a GSI
    unique: tuple[str, ...]  # single unique fields
    unique_keys: tuple[tuple[str, ...], ...] = ()  # every unique constraint (singles first)
    references: tuple[str, ...] = ()  # local fields of enforced references

    @classmethod
    def of(cls, spec: EntitySpec[Any], prefix: str) -> Layout:
        table = f"{prefix}{spec.collection}"
        references = tuple(dict.fromkeys(r.local_field for r in spec.references.values()))
        indexed: list[str] = []
        for name in dict.fromkeys((*spec.indexed_fields, *references)):
            info = spec.schema.fields[name]
            if info.kind in SCALAR_KINDS and name != spec.id_field:
                indexed.append(name)
            elif name in spec.unique:
                raise ValueError(f"{spec.name}.{name}: DynamoDB can only enforce unique scalars")
            elif name in references:
                raise ValueError(f"{spec.name}.{name}: an enforced reference must be a scalar")
        for group in spec.unique_together:
            for name in group:
                if spec.schema.fields[name].kind not in SCALAR_KINDS:
                    raise ValueError(
                        f"{spec.name}.{name}: DynamoDB can only enforce unique scalars"
                    )
        if len(indexed) > MAX_GSIS:
            raise ValueError(f"{spec.name}: DynamoDB allows {MAX_GSIS} GSIs per table")
        unique = tuple(f for f in spec.unique if f != spec.id_field)
        unique_keys = tuple((f,) for f in unique) + tuple(spec.unique_together)
        return cls(
            table=table,
            unique_table=f"{table}{UNIQUE_SUFFIX}" if unique_keys else None,
            id_attribute=spec.id_field,
            indexed=tuple(indexed),
            unique=unique,
            unique_keys=unique_keys,
            references=references,
        )

    @property
    def guarded(self) -> tuple[str, ...]:
        """Fields whose change moves something else (a uniqueness item, a reference counter)."""
        return tuple(dict.fromkeys((*(f for k in self.unique_keys for f in k), *self.references)))

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.table,) if self.unique_table is None else (self.table, self.unique_table)

    def entity_table_definition(self) -> dict[str, Any]:
        definitions = [{"AttributeName": self.id_attribute, "AttributeType": "S"}]
        definitions += [
            {"AttributeName": index_attribute(f), "AttributeType": "S"} for f in self.indexed
        ]
        definition: dict[str, Any] = {
            "TableName": self.table,
            "KeySchema": [{"AttributeName": self.id_attribute, "KeyType": "HASH"}],
            "AttributeDefinitions": definitions,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.indexed:
            definition["GlobalSecondaryIndexes"] = [gsi_definition(f) for f in self.indexed]
        return definition

    def unique_table_definition(self) -> dict[str, Any]:
        return {
            "TableName": self.unique_table,
            "KeySchema": [{"AttributeName": UNIQUE_KEY, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": UNIQUE_KEY, "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        }


def gsi_definition(field: str) -> dict[str, Any]:
    return {
        "IndexName": index_name(field),
        "KeySchema": [{"AttributeName": index_attribute(field), "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
    }


async def ensure_tables(
    client: DynamoDBClient, layouts: Sequence[Layout], *, wait_seconds: float = 600.0
) -> list[str]:
    """Create whatever is missing (tables, GSIs, TTL); returns the tables created or changed."""
    changed: list[str] = []
    for layout in layouts:
        if await _ensure_table(client, layout.entity_table_definition(), wait_seconds):
            changed.append(layout.table)
        if layout.unique_table is not None and await _ensure_table(
            client, layout.unique_table_definition(), wait_seconds
        ):
            changed.append(layout.unique_table)
        for table in layout.tables:
            await _ensure_ttl(client, table)
    return changed


async def _ensure_table(
    client: DynamoDBClient, definition: dict[str, Any], wait_seconds: float
) -> bool:
    name = definition["TableName"]
    with driver_errors(f"table {name}", reading=False):
        try:
            await client.create_table(**definition)
            await wait_active(client, name, wait_seconds)
            return True
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                raise
        # It exists: add any GSI it lacks (one per UpdateTable, DynamoDB's rule).
        await wait_active(client, name, wait_seconds)
        described = (await client.describe_table(TableName=name))["Table"]
        existing = {g["IndexName"] for g in described.get("GlobalSecondaryIndexes", [])}
        added = False
        for gsi in definition.get("GlobalSecondaryIndexes", []):
            if gsi["IndexName"] in existing:
                continue
            attribute = gsi["KeySchema"][0]["AttributeName"]
            await client.update_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": attribute, "AttributeType": "S"}],
                GlobalSecondaryIndexUpdates=[{"Create": gsi}],
            )
            await wait_active(client, name, wait_seconds)
            added = True
        return added


async def wait_active(client: DynamoDBClient, name: str, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        table = (await client.describe_table(TableName=name))["Table"]
        indexes = table.get("GlobalSecondaryIndexes", [])
        if table.get("TableStatus") == "ACTIVE" and all(
            g.get("IndexStatus", "ACTIVE") == "ACTIVE" for g in indexes
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"DynamoDB table {name} is not ACTIVE after {wait_seconds}s")
        await asyncio.sleep(2)


async def _ensure_ttl(client: DynamoDBClient, table: str) -> None:
    with driver_errors(f"table {table}", reading=False):
        described = await client.describe_time_to_live(TableName=table)
        status = described.get("TimeToLiveDescription", {}).get("TimeToLiveStatus")
        if status in ("ENABLED", "ENABLING"):
            return
        await client.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )


async def drop_tables(client: DynamoDBClient, layouts: Sequence[Layout]) -> None:
    """Delete the tables of ``layouts`` (tests, teardown scripts); missing ones are fine."""
    for layout in layouts:
        for table in layout.tables:
            with driver_errors(f"table {table}", reading=False):
                try:
                    await client.delete_table(TableName=table)
                except ClientError as exc:
                    if error_code(exc) != "ResourceNotFoundException":
                        raise
