"""What the DynamoDB repository's reads and writes share: items to records and back, keys,
TTL, uniqueness keys, and the few reads the writes make."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ....ports.errors import AlreadyExists, ConcurrencyConflict, NotFound
from ....ports.query import Filter
from ..codec import from_record, to_record
from ..common import DerivedReads, diagnose_write, unique_label
from ..evaluation import matches
from ..registry import EntitySpec
from .batch import batch_get
from .conditions import Claim, Release, Same, expired
from .errors import driver_errors
from .expressions import Expression, join
from .serialization import Item, from_av, index_key, to_av
from .staging import Staging
from .tables import TTL_ATTRIBUTE, UNIQUE_KEY, UNIQUE_OWNER, Layout, index_attribute, index_name

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

    from .backend import DynamoDbBackend

T = TypeVar("T")


@dataclass(frozen=True)
class Current:
    """An item as a write sees it: ``item`` with what is staged applied (None: no item), and
    ``stored`` as DynamoDB holds it (None when it came from the staged writes)."""

    item: Item | None
    stored: Item | None


class DynamoDbBase(DerivedReads[T]):
    def __init__(self, spec: EntitySpec[T], backend: DynamoDbBackend, layout: Layout) -> None:
        self.spec = spec
        self.layout = layout
        self._backend = backend
        self._fields = spec.schema.fields
        self._id = spec.id_field
        self._version = spec.version_field

    @property
    def entity_name(self) -> str:
        return self.spec.name

    @property
    def _client(self) -> DynamoDBClient:
        return self._backend.client

    # --- items, records, entities ----------------------------------------------------------

    @staticmethod
    def _now() -> int:
        return int(time.time())

    def _key(self, key: str) -> Item:
        return {self._id: {"S": key}}

    def _expired(self, item: Mapping[str, Any], now: int | None = None) -> bool:
        return expired(item, self._now() if now is None else now)

    def _record(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The item as a record of rich values (hidden attributes left out)."""
        raw = {
            name: from_av(item[name], info) for name, info in self._fields.items() if name in item
        }
        return to_record(from_record(self.spec.entity, raw))

    def _entity(self, record: dict[str, Any]) -> T:
        return from_record(self.spec.entity, record)

    def _ttl_for(
        self, record: Mapping[str, Any], existing: int | None, *, creating: bool
    ) -> int | None:
        if self.spec.ttl_field is not None:
            value = record.get(self.spec.ttl_field)
            if value is None:
                return None
            if isinstance(value, dt.datetime):
                return int(value.timestamp())
            return int(value)
        days = self._backend.data_expiration_days
        if creating and days:
            return self._now() + days * 86400
        return existing

    def _item(self, record: Mapping[str, Any], ttl: int | None) -> Item:
        item: Item = {
            name: to_av(record[name], info) for name, info in self._fields.items() if name in record
        }
        for name in self.layout.indexed:
            key = index_key(record.get(name))
            if key is not None:
                item[index_attribute(name)] = {"S": key}
        if ttl is not None:
            item[TTL_ATTRIBUTE] = {"N": str(ttl)}
        return item

    def _absent(self, item: Mapping[str, Any]) -> set[str]:
        """The derived attributes a rewrite of an item to ``item`` must remove."""
        derived = [index_attribute(name) for name in self.layout.indexed] + [TTL_ATTRIBUTE]
        return {name for name in derived if name not in item}

    @staticmethod
    def _ttl_of_item(item: Mapping[str, Any]) -> int | None:
        ttl = item.get(TTL_ATTRIBUTE)
        return int(float(ttl["N"])) if ttl is not None and "N" in ttl else None

    def _unique_key(self, fields: Sequence[str], values: Sequence[Any]) -> str | None:
        keys = [index_key(v) for v in values]
        if any(k is None for k in keys):
            return None
        if len(fields) == 1:
            return f"UNIQUE#{fields[0]}#{keys[0]}"
        return f"UNIQUE#{'+'.join(fields)}#{json.dumps(keys, ensure_ascii=False)}"

    # --- reads the writes make -------------------------------------------------------------

    async def _get_item(self, key: str) -> dict[str, Any] | None:
        with driver_errors(self.spec.name):
            response = await self._client.get_item(
                TableName=self.layout.table, Key=self._key(key), ConsistentRead=True
            )
        item = response.get("Item")
        return dict(item) if item is not None else None

    async def _current(self, staging: Staging, key: str) -> Current:
        """The item under ``key`` as the staged writes leave it (one GetItem if none is)."""
        found, view = staging.view(self.layout.table, self._key(key))
        if found:
            return Current(view, None)
        stored = await self._get_item(key)
        return Current(staging.adjust(self.layout.table, self._key(key), stored), stored)

    async def _batch_items(self, ids: Sequence[str], projection: Sequence[str] = ()) -> list[Item]:
        keys = [self._key(k) for k in dict.fromkeys(ids) if isinstance(k, str) and k]
        if not keys:
            return []
        extra: dict[str, Any] | None = None
        if projection:
            expr = Expression()
            extra = {"ProjectionExpression": ", ".join(expr.path(p) for p in projection)}
            extra["ExpressionAttributeNames"] = expr.names
        return await batch_get(
            self._client,
            self.layout.table,
            keys,
            attempts=self._backend.batch_attempts,
            what=self.spec.name,
            projection=extra,
        )

    async def _call(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        with driver_errors(self.spec.name):
            if kind == "query":
                return dict(await self._client.query(**params))
            return dict(await self._client.scan(**params))

    async def _paged(self, kind: str, params: dict[str, Any]) -> list[Item]:
        items: list[Item] = []
        params = dict(params)
        while True:
            response = await self._call(kind, params)
            items.extend(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return items
            params["ExclusiveStartKey"] = last

    async def _index_items(self, name: str, value: str) -> list[Item]:
        """Every live item whose indexed ``name`` equals ``value`` (a Query on its GSI)."""
        expr = Expression()
        k = expr.name(index_attribute(name))
        params: dict[str, Any] = {
            "TableName": self.layout.table,
            "IndexName": index_name(name),
            "KeyConditionExpression": f"{k} = {expr.value({'S': index_key(value)})}",
            "FilterExpression": join("AND", [expr.live(TTL_ATTRIBUTE, self._now())]),
        }
        params.update(expr.params())
        return await self._paged("query", params)

    # --- what every staged write uses ------------------------------------------------------

    def _diagnose(
        self,
        key: str,
        item: Mapping[str, Any] | None,
        expected: int | None,
        tree: Filter | None,
        rejection_message: str | None,
    ) -> Exception | None:
        """Why a guarded write must not happen, or None when it may."""
        if item is None or self._expired(item):
            return NotFound(self.spec.name, key)
        record = self._record(item)
        if (
            expected is not None
            and self._version is not None
            and record.get(self._version) != expected
        ) or not matches(record, tree):
            return diagnose_write(self.spec, key, record, expected, rejection_message)
        return None

    def _same(self, key: str, item: Item) -> Same:
        """The guard of a write based on ``item``: same version (and references, which
        set_null changes without a version) or, without a version field, same attributes."""
        if self._version is not None:
            names: Sequence[str] = (self._version, *self.layout.references)
            read = item.get(self._version)
            version = int(read["N"]) if read is not None and "N" in read else None
        else:
            names, version = tuple(self._fields), None
        values = tuple((name, item.get(name)) for name in dict.fromkeys(names))

        def failure() -> Exception:
            return ConcurrencyConflict(self.spec.name, key, version)

        return Same(key=self._id, values=values, failure=failure, retry=True)

    def _claims(
        self, record: Mapping[str, Any] | None
    ) -> dict[str, tuple[tuple[str, ...], tuple[Any, ...]]]:
        """The uniqueness items a record holds: key -> (fields, values)."""
        found: dict[str, tuple[tuple[str, ...], tuple[Any, ...]]] = {}
        if record is None:
            return found
        for fields in self.layout.unique_keys:
            values = tuple(record.get(f) for f in fields)
            if any(v is None for v in values):
                continue
            unique_key = self._unique_key(fields, values)
            if unique_key is not None:
                found[unique_key] = (fields, values)
        return found

    def _move_claims(
        self,
        staging: Staging,
        key: str,
        old: Mapping[str, Any] | None,
        new: Mapping[str, Any] | None,
        old_ttl: int | None,
        new_ttl: int | None,
    ) -> None:
        """Release the unique values ``old`` held and ``new`` does not; claim the others."""
        table = self.layout.unique_table
        if table is None:
            return
        before, after = self._claims(old), self._claims(new)
        for unique_key in before:
            if unique_key not in after:

                def moved(owner: str = key) -> Exception:
                    return ConcurrencyConflict(self.spec.name, owner, None)

                staging.stage(
                    table,
                    {UNIQUE_KEY: {"S": unique_key}},
                    effect="delete",
                    conds=[Release(owner=key, failure=moved, retry=True)],
                )
        for unique_key, (fields, values) in after.items():
            if unique_key in before and new_ttl == old_ttl:
                continue
            item: Item = {UNIQUE_KEY: {"S": unique_key}, UNIQUE_OWNER: {"S": key}}
            if new_ttl is not None:
                item[TTL_ATTRIBUTE] = {"N": str(new_ttl)}
            value = values[0] if len(values) == 1 else values

            def taken(label: str = unique_label(fields), value: Any = value) -> Exception:
                return AlreadyExists(self.spec.name, label, value)

            staging.stage(
                table,
                {UNIQUE_KEY: {"S": unique_key}},
                effect="put",
                item=item,
                conds=[Claim(owner=key, failure=taken)],
            )
