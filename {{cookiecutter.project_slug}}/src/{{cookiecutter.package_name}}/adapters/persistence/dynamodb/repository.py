"""The Repository port on DynamoDB (layout and trade-offs: docs/dynamodb.md).

Reads
- ``get``: one strongly consistent GetItem; ``get_many``: BatchGetItem in chunks of 100.
- ``find``/``count``/``exists``/``distinct`` pick an access path from the filter's top-level
  conjuncts: ``id = x`` -> GetItem, ``id in [...]`` -> BatchGetItem, equality (or a short
  ``in``) on a field with a GSI -> Query on that GSI (one per value), otherwise Scan. The whole
  filter always runs server-side as FilterExpression (pages followed until LastEvaluatedKey is
  absent); the few operators DynamoDB cannot evaluate are re-checked in Python.
- Without ``sort``, ``find`` pages in DynamoDB's own order and its cursor carries the key to
  resume from (DynamoDB's ExclusiveStartKey), so a page costs what it reads. With ``sort``,
  DynamoDB cannot order by arbitrary fields: the filtered set is read completely, sorted with
  the reference order, and paged with keyset cursors.
- ``count`` is ``Select=COUNT`` summed over pages (never the approximate ItemCount).
- Items whose TTL has passed are invisible (DynamoDB deletes them lazily, up to days later).

Writes
- ``add``: the entity item (condition: id free) and one uniqueness item per unique value
  (condition: value free) in ONE TransactWriteItems; a cancellation reason names the field.
- ``update``/``update_fields``/``delete``: one conditional UpdateItem/DeleteItem (version,
  caller's conditions, liveness in the ConditionExpression) when no unique value moves;
  otherwise read, then one transaction that writes the item guarded by the version read and
  moves the uniqueness items. A rejected condition is diagnosed from the item DynamoDB
  returns: NotFound, ConcurrencyConflict or ConditionFailed(rejection_message).
- ``add_many``: one transaction when it fits in 100 actions (all-or-nothing); otherwise
  BatchWriteItem in 25s (transactions of up to 100 actions for entities with unique fields)
  after a pre-check, raising BatchWriteError with exactly the ids not written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from ....ports.errors import (
    AlreadyExists,
    BackendUnavailable,
    BatchWriteError,
    ConcurrencyConflict,
    InvalidCursor,
    InvalidInput,
    NotFound,
)
from ....ports.query import (
    And,
    Condition,
    Filter,
    FilterInput,
    Op,
    Page,
    PreparedQuery,
    Query,
    backend_cursor,
    parse_sort,
)
from ..codec import from_record, to_record
from ..common import (
    DerivedReads,
    build_page,
    diagnose_write,
    entity_id,
    parse_conditions,
    prepare,
    unique_values,
    validate_field,
    with_version,
)
from ..evaluation import after_keyset, compare_values, get_path, matches, sort_records
from ..registry import EntitySpec
from .batch import WriteRequest, batch_get, batch_write
from .errors import (
    BACKEND,
    DRIVER_ERRORS,
    backoff,
    cancellation_codes,
    driver_errors,
    error_code,
    failed_item,
    translate,
)
from .expressions import Expression, compile_filter, join
from .serialization import Item, from_av, index_key, plain, to_av
from .tables import TTL_ATTRIBUTE, UNIQUE_KEY, UNIQUE_OWNER, Layout, index_attribute, index_name

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

    from .backend import DynamoDbBackend

T = TypeVar("T")

TRANSACTION_LIMIT = 100
MAX_QUERY_FANOUT = 50  # an ``in`` on an indexed field runs one Query per value up to this
QUERY_CONCURRENCY = 16
WRITE_ATTEMPTS = 8
CCF = "ConditionalCheckFailedException"
_RETRYABLE_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)


@dataclass(frozen=True)
class _Plan:
    kind: str  # "get" | "batch" | "query" | "scan"
    field: str | None = None
    keys: tuple[Any, ...] = ()

    @property
    def native(self) -> bool:
        """One Scan or one Query: pages can resume from a key."""
        return self.kind == "scan" or (self.kind == "query" and len(self.keys) == 1)


@dataclass
class _Write:
    """One TransactWriteItems being assembled, and what each action stands for."""

    actions: list[dict[str, Any]] = field(default_factory=list)
    claims: dict[int, tuple[str, Any]] = field(default_factory=dict)  # action -> (field, value)

    def add(self, action: dict[str, Any], claim: tuple[str, Any] | None = None) -> None:
        if claim is not None:
            self.claims[len(self.actions)] = claim
        self.actions.append(action)


class _Retry(Exception):
    """The item changed between our read and our write: read again."""


class DynamoDbRepository(DerivedReads[T]):
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
        ttl = item.get(TTL_ATTRIBUTE)
        if ttl is None or "N" not in ttl:
            return False
        return int(float(ttl["N"])) <= (self._now() if now is None else now)

    def _record(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The item as a record of rich values (what the reference evaluator reads)."""
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

    def _unique_key(self, field_name: str, value: Any) -> str | None:
        key = index_key(value)
        return None if key is None else f"UNIQUE#{field_name}#{key}"

    # --- reads -------------------------------------------------------------------------------

    async def _get_item(self, key: str) -> dict[str, Any] | None:
        with driver_errors(self.spec.name):
            response = await self._client.get_item(
                TableName=self.layout.table, Key=self._key(key), ConsistentRead=True
            )
        item = response.get("Item")
        return dict(item) if item is not None else None

    async def get(self, id: str) -> T | None:
        if not isinstance(id, str) or not id:
            return None
        item = await self._get_item(id)
        if item is None or self._expired(item):
            return None
        return self._entity(self._record(item))

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

    async def get_many(self, ids: Sequence[str]) -> list[T]:
        now = self._now()
        by_id: dict[str, T] = {}
        for item in await self._batch_items(ids):
            if not self._expired(item, now):
                by_id[item[self._id]["S"]] = self._entity(self._record(item))
        return [by_id[k] for k in dict.fromkeys(ids) if k in by_id]

    async def get_by(self, field: str, value: Any) -> T | None:
        return await self.find_one({field: {"eq": value}})

    def _plan(self, tree: Filter | None) -> _Plan:
        conjuncts: Sequence[Filter] = (
            (tree,) if isinstance(tree, Condition) else tree.items if isinstance(tree, And) else ()
        )
        best: tuple[int, _Plan] | None = None
        for cond in conjuncts:
            if not isinstance(cond, Condition):
                continue
            candidate = self._candidate(cond)
            if candidate is not None and (best is None or candidate[0] < best[0]):
                best = candidate
        return best[1] if best is not None else _Plan("scan")

    def _candidate(self, cond: Condition) -> tuple[int, _Plan] | None:
        if cond.op is Op.EQ:
            values: tuple[Any, ...] = (cond.value,)
        elif cond.op is Op.IN and cond.value:
            values = tuple(dict.fromkeys(cond.value)) if _hashable(cond.value) else ()
        else:
            return None
        if not values or any(v is None for v in values):
            return None
        many = cond.op is Op.IN
        if cond.field == self._id:
            if not all(isinstance(v, str) and v for v in values):
                return None
            return (1, _Plan("batch", None, values)) if many else (0, _Plan("get", None, values))
        if cond.field not in self.layout.indexed or len(values) > MAX_QUERY_FANOUT:
            return None
        if any(index_key(v) is None for v in values):
            return None
        rank = 2 if cond.field in self.layout.unique else 3
        return rank + (2 if many else 0), _Plan("query", cond.field, values)

    def _request(
        self, plan: _Plan, key: Any, tree: Filter | None, now: int
    ) -> tuple[dict[str, Any], bool]:
        """Scan/Query parameters for one access path; ``exact`` False means re-check in Python."""
        expr = Expression()
        params: dict[str, Any] = {"TableName": self.layout.table}
        if plan.kind == "query":
            assert plan.field is not None
            params["IndexName"] = index_name(plan.field)
            k = expr.name(index_attribute(plan.field))
            params["KeyConditionExpression"] = f"{k} = {expr.value({'S': index_key(key)})}"
        compiled, exact = compile_filter(tree, expr, self.spec.schema)
        params["FilterExpression"] = join("AND", [compiled, expr.live(TTL_ATTRIBUTE, now)])
        params.update(expr.params(params.get("KeyConditionExpression"), params["FilterExpression"]))
        return params, exact

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

    async def _fetch(self, plan: _Plan, tree: Filter | None) -> list[dict[str, Any]]:
        """Every live record matching ``tree`` (complete, unordered)."""
        now = self._now()
        if plan.kind in ("get", "batch"):
            if plan.kind == "get":
                found = await self._get_item(plan.keys[0])
                items = [] if found is None else [found]
            else:
                items = await self._batch_items(plan.keys)
            found_records = [self._record(i) for i in items if not self._expired(i, now)]
            return [r for r in found_records if matches(r, tree)]
        keys = plan.keys or (None,)
        gate = asyncio.Semaphore(QUERY_CONCURRENCY)

        async def one(key: Any) -> tuple[list[Item], bool]:
            params, exact = self._request(plan, key, tree, now)
            async with gate:
                return await self._paged(plan.kind, params), exact

        records: list[dict[str, Any]] = []
        for items, exact in await asyncio.gather(*(one(k) for k in keys)):
            for item in items:
                record = self._record(item)
                if exact or matches(record, tree):
                    records.append(record)
        return records

    async def find(self, query: Query | None = None) -> Page[T]:
        query = query or Query()
        prepared = prepare(self.spec, query)
        plan = self._plan(prepared.filter)
        if prepared.limit == 0:
            return Page([])
        if not query.sort and plan.native:
            if prepared.after is not None:
                raise InvalidCursor("this cursor belongs to another sort order; start again")
            return await self._native_page(plan, prepared)
        if prepared.payload is not None:
            raise InvalidCursor("this cursor belongs to another sort order; start again")
        rows = sort_records(await self._fetch(plan, prepared.filter), prepared.sort)
        if prepared.after is not None:
            rows = after_keyset(rows, prepared.sort, prepared.after)
        rows = rows[prepared.offset :]
        if prepared.limit is not None:
            rows = rows[: prepared.limit + 1]
        return build_page(self.spec, rows, prepared, self._entity)

    # --- pages in DynamoDB's order -----------------------------------------------------------

    def _plan_id(self, plan: _Plan, tree: Filter | None) -> str:
        path = "scan" if plan.kind == "scan" else f"ix:{plan.field}"
        digest = hashlib.sha256(repr(tree).encode()).hexdigest()[:16]
        return f"{path}:{digest}"

    def _key_names(self, plan: _Plan) -> tuple[str, ...]:
        if plan.kind == "query" and plan.field is not None:
            return (self._id, index_attribute(plan.field))
        return (self._id,)

    def _start_key(self, payload: Mapping[str, Any], plan: _Plan, plan_id: str) -> Item:
        if payload.get("p") != plan_id:
            raise InvalidCursor("this cursor belongs to another query; start again")
        raw = payload.get("x")
        names = self._key_names(plan)
        if not isinstance(raw, dict) or set(raw) != set(names):
            raise InvalidCursor("malformed cursor")
        for value in raw.values():
            if not isinstance(value, str) or not value or len(value.encode()) > 2048:
                raise InvalidCursor("malformed cursor")
        if (
            plan.kind == "query"
            and plan.field is not None
            and raw[index_attribute(plan.field)] != index_key(plan.keys[0])
        ):
            raise InvalidCursor("this cursor belongs to another query; start again")
        return {name: {"S": raw[name]} for name in names}

    async def _native_page(self, plan: _Plan, prepared: PreparedQuery) -> Page[T]:
        tree = prepared.filter
        plan_id = self._plan_id(plan, tree)
        start = None
        if prepared.payload is not None:
            start = self._start_key(prepared.payload, plan, plan_id)
        params, exact = self._request(plan, plan.keys[0] if plan.keys else None, tree, self._now())
        want = None if prepared.limit is None else prepared.offset + prepared.limit + 1
        if want is not None and tree is None:
            params["Limit"] = want
        collected: list[tuple[Item, dict[str, Any]]] = []
        if start is not None:
            params["ExclusiveStartKey"] = start
        while want is None or len(collected) < want:
            try:
                response = await self._call(plan.kind, params)
            except InvalidInput as exc:  # pragma: no cover - DynamoDB refusing a start key
                raise InvalidCursor("malformed cursor") from exc
            for item in response.get("Items", []):
                record = self._record(item)
                if exact or matches(record, tree):
                    collected.append((item, record))
                    if want is not None and len(collected) >= want:
                        break
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            params["ExclusiveStartKey"] = last
        rows = collected[prepared.offset :]
        has_more = prepared.limit is not None and len(rows) > prepared.limit
        if prepared.limit is not None:
            rows = rows[: prepared.limit]
        cursor = None
        if has_more and rows:
            last_item = rows[-1][0]
            position = {name: last_item[name]["S"] for name in self._key_names(plan)}
            cursor = backend_cursor(prepared.sort, {"p": plan_id, "x": position})
        next_offset = prepared.offset + len(rows) if has_more else None
        return Page([self._entity(r) for _, r in rows], cursor, next_offset)

    async def count(self, filter: FilterInput | None = None) -> int:
        tree = parse_conditions(self.spec, filter)
        plan = self._plan(tree)
        if plan.kind in ("get", "batch"):
            return len(await self._fetch(plan, tree))
        now = self._now()
        total = 0
        for key in plan.keys or (None,):
            params, exact = self._request(plan, key, tree, now)
            if not exact:
                return len(await self._fetch(plan, tree))
            params["Select"] = "COUNT"
            while True:
                response = await self._call(plan.kind, params)
                total += int(response.get("Count", 0))
                last = response.get("LastEvaluatedKey")
                if not last:
                    break
                params["ExclusiveStartKey"] = last
        return total

    async def exists(self, filter: FilterInput | None = None) -> bool:
        return bool((await self.find(Query(filter=filter, limit=1))).items)

    async def distinct(self, field: str, filter: FilterInput | None = None) -> list[Any]:
        validate_field(self.spec, field)
        parse_sort(field, self.spec.schema)  # distinct values must be orderable scalars
        tree = parse_conditions(self.spec, filter)
        seen: dict[Any, None] = {}
        for record in await self._fetch(self._plan(tree), tree):
            value = get_path(record, field)
            if value is not None:
                seen.setdefault(value, None)
        return sorted(seen, key=cmp_to_key(compare_values))

    # --- transactions ------------------------------------------------------------------------

    async def _transact(self, write: _Write) -> list[str] | None:
        """Run it; None when committed, else the cancellation codes of a failed condition."""
        for attempt in range(WRITE_ATTEMPTS):
            if attempt:
                await backoff(attempt)
            try:
                await self._client.transact_write_items(TransactItems=write.actions)  # type: ignore[arg-type]
                return None
            except ClientError as exc:
                code = error_code(exc)
                if code == "TransactionCanceledException":
                    codes = cancellation_codes(exc)
                    if "ConditionalCheckFailed" in codes:
                        return codes
                    if any(c in _RETRYABLE_REASONS for c in codes):
                        continue
                    if "ValidationError" in codes:
                        raise InvalidInput(
                            f"DynamoDB refused the write to {self.spec.name}"
                        ) from exc
                if code in ("TransactionConflictException", "TransactionInProgressException"):
                    continue
                raise translate(exc, self.spec.name, reading=False) from exc
            except DRIVER_ERRORS as exc:
                raise translate(exc, self.spec.name, reading=False) from exc
        raise BackendUnavailable(BACKEND, f"{self.spec.name}: transaction conflicts persisted")

    def _claim(
        self, write: _Write, field_name: str, value: Any, owner: str, ttl: int | None
    ) -> None:
        unique_key = self._unique_key(field_name, value)
        if unique_key is None:
            return
        expr = Expression()
        k, o, t = expr.name(UNIQUE_KEY), expr.name(UNIQUE_OWNER), expr.name(TTL_ATTRIBUTE)
        owner_value = expr.value({"S": owner})
        now = expr.value({"N": str(self._now())})
        item: Item = {UNIQUE_KEY: {"S": unique_key}, UNIQUE_OWNER: {"S": owner}}
        if ttl is not None:
            item[TTL_ATTRIBUTE] = {"N": str(ttl)}
        put = {
            "TableName": self.layout.unique_table,
            "Item": item,
            "ConditionExpression": (
                f"attribute_not_exists({k}) OR {o} = {owner_value} OR {t} <= {now}"
            ),
            **expr.params(),
        }
        write.add({"Put": put}, (field_name, value))

    def _release(self, write: _Write, field_name: str, value: Any, owner: str) -> None:
        unique_key = self._unique_key(field_name, value)
        if unique_key is None:
            return
        expr = Expression()
        k, o = expr.name(UNIQUE_KEY), expr.name(UNIQUE_OWNER)
        delete = {
            "TableName": self.layout.unique_table,
            "Key": {UNIQUE_KEY: {"S": unique_key}},
            "ConditionExpression": f"attribute_not_exists({k}) OR {o} = {expr.value({'S': owner})}",
            **expr.params(),
        }
        write.add({"Delete": delete})

    def _insert_action(self, item: Item, *, only_over_expired: bool = False) -> dict[str, Any]:
        """A Put that only lands where the id is free (or its holder has expired)."""
        expr = Expression()
        t = expr.name(TTL_ATTRIBUTE)
        expired = f"{t} <= {expr.value({'N': str(self._now())})}"
        condition = (
            expired
            if only_over_expired
            else f"attribute_not_exists({expr.name(self._id)}) OR {expired}"
        )
        return {
            "TableName": self.layout.table,
            "Item": item,
            "ConditionExpression": condition,
            **expr.params(),
        }

    def _raise_claim_failure(self, write: _Write, codes: Sequence[str]) -> None:
        for index, code in enumerate(codes):
            if code == "ConditionalCheckFailed" and index in write.claims:
                field_name, value = write.claims[index]
                raise AlreadyExists(self.spec.name, field_name, value)

    # --- create ------------------------------------------------------------------------------

    def _prepare_new(self, entity: T) -> tuple[str, T, dict[str, Any], Item]:
        key = entity_id(self.spec, entity)
        stored = with_version(self.spec, entity, 1)
        record = to_record(stored)
        return key, stored, record, self._item(record, self._ttl_for(record, None, creating=True))

    async def add(self, entity: T) -> T:
        key, stored, record, item = self._prepare_new(entity)
        await self._insert(key, record, item)
        return stored

    async def _insert(self, key: str, record: Mapping[str, Any], item: Item) -> None:
        uniques = unique_values(self.spec, record)
        if not uniques:
            with driver_errors(self.spec.name, reading=False):
                try:
                    await self._client.put_item(**self._insert_action(item))
                except ClientError as exc:
                    if error_code(exc) != CCF:
                        raise
                    raise AlreadyExists(self.spec.name, self._id, key) from exc
            return
        write = _Write()
        write.add({"Put": self._insert_action(item)}, (self._id, key))
        ttl = self._ttl_of_item(item)
        for field_name, value in uniques.items():
            self._claim(write, field_name, value, key, ttl)
        codes = await self._transact(write)
        if codes is not None:
            self._raise_claim_failure(write, codes)
            raise ConcurrencyConflict(self.spec.name, key, None)  # pragma: no cover

    @staticmethod
    def _ttl_of_item(item: Mapping[str, Any]) -> int | None:
        ttl = item.get(TTL_ATTRIBUTE)
        return int(float(ttl["N"])) if ttl is not None else None

    async def add_many(self, entities: Sequence[T]) -> list[T]:
        prepared = [self._prepare_new(e) for e in entities]
        if not prepared:
            return []
        seen_ids: set[str] = set()
        seen_unique: dict[str, set[Any]] = {}
        for key, _, record, _ in prepared:
            if key in seen_ids:
                raise AlreadyExists(self.spec.name, self._id, key)
            seen_ids.add(key)
            for field_name, value in unique_values(self.spec, record).items():
                if value in seen_unique.setdefault(field_name, set()):
                    raise AlreadyExists(self.spec.name, field_name, value)
                seen_unique[field_name].add(value)
        actions = sum(1 + len(unique_values(self.spec, r)) for _, _, r, _ in prepared)
        if actions <= TRANSACTION_LIMIT:
            write = self._insert_write(prepared)
            codes = await self._transact(write)
            if codes is not None:
                self._raise_claim_failure(write, codes)
                raise ConcurrencyConflict(self.spec.name, prepared[0][0], None)  # pragma: no cover
        else:
            await self._precheck_new(prepared)
            failed = await self._write_large_batch(prepared)
            if failed:
                raise BatchWriteError(self.spec.name, failed)
        return [stored for _, stored, _, _ in prepared]

    def _insert_write(self, prepared: Sequence[tuple[str, T, dict[str, Any], Item]]) -> _Write:
        write = _Write()
        for key, _, record, item in prepared:
            write.add({"Put": self._insert_action(item)}, (self._id, key))
            for field_name, value in unique_values(self.spec, record).items():
                self._claim(write, field_name, value, key, self._ttl_of_item(item))
        return write

    async def _precheck_new(self, prepared: Sequence[tuple[str, T, dict[str, Any], Item]]) -> None:
        """Refuse a large batch up front when an id or unique value is already taken (a
        best-effort check: BatchWriteItem itself cannot carry conditions)."""
        now = self._now()
        for item in await self._batch_items(
            [k for k, _, _, _ in prepared], (self._id, TTL_ATTRIBUTE)
        ):
            if not self._expired(item, now):
                raise AlreadyExists(self.spec.name, self._id, item[self._id]["S"])
        if self.layout.unique_table is None:
            return
        wanted: dict[str, tuple[str, Any, str]] = {}
        for key, _, record, _ in prepared:
            for field_name, value in unique_values(self.spec, record).items():
                unique_key = self._unique_key(field_name, value)
                if unique_key is not None:
                    wanted[unique_key] = (field_name, value, key)
        keys = [{UNIQUE_KEY: {"S": k}} for k in wanted]
        for item in await batch_get(
            self._client,
            self.layout.unique_table,
            keys,
            attempts=self._backend.batch_attempts,
            what=self.spec.name,
        ):
            field_name, value, owner = wanted[item[UNIQUE_KEY]["S"]]
            if item[UNIQUE_OWNER]["S"] != owner and not self._expired(item, now):
                raise AlreadyExists(self.spec.name, field_name, value)

    async def _write_large_batch(
        self, prepared: Sequence[tuple[str, T, dict[str, Any], Item]]
    ) -> list[Hashable]:
        if self.layout.unique_table is None:
            requests = [
                WriteRequest(
                    self.layout.table,
                    {"PutRequest": {"Item": item}},
                    {self._id: item[self._id]},
                    key,
                )
                for key, _, _, item in prepared
            ]
            return await batch_write(
                self._client,
                requests,
                attempts=self._backend.batch_attempts,
                what=self.spec.name,
            )
        # Unique values need conditions: transactions of up to 100 actions, each atomic.
        chunks: list[list[tuple[str, T, dict[str, Any], Item]]] = [[]]
        size = 0
        for entry in prepared:
            cost = 1 + len(unique_values(self.spec, entry[2]))
            if size + cost > TRANSACTION_LIMIT:
                chunks.append([])
                size = 0
            chunks[-1].append(entry)
            size += cost
        failed: list[Hashable] = []
        for chunk in chunks:
            keys = [key for key, _, _, _ in chunk]
            try:
                if await self._transact(self._insert_write(chunk)) is not None:
                    failed.extend(keys)  # cancelled: nothing of this chunk was written
            except BackendUnavailable:
                # A timeout leaves the outcome unknown: look before reporting (if this read
                # fails too, BackendUnavailable propagates: the state cannot be known).
                written = {i[self._id]["S"] for i in await self._batch_items(keys, (self._id,))}
                failed.extend(k for k in keys if k not in written)
        return failed

    # --- update ------------------------------------------------------------------------------

    async def update(
        self,
        entity: T,
        *,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        key = entity_id(self.spec, entity)
        tree = parse_conditions(self.spec, conditions)
        expected = int(getattr(entity, self._version)) if self._version else None
        stored = with_version(self.spec, entity, (expected or 0) + 1)
        record = to_record(stored)
        if _exact(tree, self.spec):
            try:
                await self._update_in_place(key, record, None, expected, tree, rejection_message)
                return stored
            except _Retry:
                pass
        return await self._rewrite(key, lambda _current: entity, expected, tree, rejection_message)

    async def update_fields(
        self,
        id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        for name in changes:
            if name not in self._fields:
                raise InvalidInput(f"{self.spec.name} has no field {name!r}")
            if name in (self._id, self._version):
                raise InvalidInput(f"{self.spec.name}.{name} cannot be changed")
        tree = parse_conditions(self.spec, conditions)
        moves_unique = any(name in self.layout.unique for name in changes)
        moves_ttl = self.spec.ttl_field in changes and bool(self.layout.unique)
        if (
            not moves_unique
            and not moves_ttl
            and (changes or self._version)
            and _exact(tree, self.spec)
        ):
            record = {name: plain(value) for name, value in changes.items()}
            try:
                result = await self._update_in_place(
                    id, record, changes, expected_version, tree, rejection_message
                )
                assert result is not None
                return result
            except _Retry:
                pass

        def change(current: T) -> T:
            return dataclasses.replace(current, **changes)  # type: ignore[type-var]

        return await self._rewrite(id, change, expected_version, tree, rejection_message)

    async def _update_in_place(
        self,
        key: str,
        record: Mapping[str, Any],
        partial: Mapping[str, Any] | None,
        expected: int | None,
        tree: Filter | None,
        rejection_message: str | None,
    ) -> T | None:
        """One conditional UpdateItem. ``partial`` None: replace every field (``record`` is
        the whole new entity, unique values must not move: guarded); else set those fields.
        Raises _Retry when only our own guard failed (a unique value or TTL moves)."""
        expr = Expression()
        sets: list[str] = []
        removes: list[str] = []
        for name, value in record.items():
            if name == self._id or name == self._version:
                continue
            sets.append(f"{expr.name(name)} = {expr.value(to_av(value, self._fields[name]))}")
            if name in self.layout.indexed:
                ix = index_key(value)
                if ix is None:
                    removes.append(expr.name(index_attribute(name)))
                else:
                    sets.append(f"{expr.name(index_attribute(name))} = {expr.value({'S': ix})}")
        if self.spec.ttl_field is not None and self.spec.ttl_field in record:
            ttl = self._ttl_for(record, None, creating=False)
            if ttl is None:
                removes.append(expr.name(TTL_ATTRIBUTE))
            else:
                sets.append(f"{expr.name(TTL_ATTRIBUTE)} = {expr.value({'N': str(ttl)})}")
        guards = [f"attribute_exists({expr.name(self._id)})", expr.live(TTL_ATTRIBUTE, self._now())]
        if self._version is not None:
            v = expr.name(self._version)
            if partial is None or expected is None:
                current = expected if partial is None else None
                if current is not None:
                    guards.append(f"{v} = {expr.value({'N': str(current)})}")
                    sets.append(f"{v} = {expr.value({'N': str(current + 1)})}")
                else:
                    sets.append(f"{v} = {v} + {expr.value({'N': '1'})}")
            else:
                guards.append(f"{v} = {expr.value({'N': str(expected)})}")
                sets.append(f"{v} = {v} + {expr.value({'N': '1'})}")
        if partial is None:
            for name in self.layout.unique:
                guards.append(expr.equals(name, to_av(record.get(name), self._fields[name])))
            if self.spec.ttl_field is not None and self.layout.unique:
                ttl = self._ttl_for(record, None, creating=False)
                guards.append(
                    expr.nullish(TTL_ATTRIBUTE)
                    if ttl is None
                    else f"{expr.name(TTL_ATTRIBUTE)} = {expr.value({'N': str(ttl)})}"
                )
        compiled, _ = compile_filter(tree, expr, self.spec.schema)
        guards.append(compiled or "")
        update = "SET " + ", ".join(sets)
        if removes:
            update += " REMOVE " + ", ".join(removes)
        params: dict[str, Any] = {
            "TableName": self.layout.table,
            "Key": self._key(key),
            "UpdateExpression": update,
            "ConditionExpression": join("AND", guards),
            "ReturnValues": "ALL_NEW" if partial is not None else "NONE",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            **expr.params(),
        }
        with driver_errors(self.spec.name, reading=False):
            try:
                response = await self._client.update_item(**params)
            except ClientError as exc:
                if error_code(exc) != CCF:
                    raise
                old = failed_item(exc)
                if old is None:
                    old = await self._get_item(key)
                problem = self._diagnose(key, old, expected, tree, rejection_message)
                if problem is None:
                    raise _Retry() from exc
                raise problem from exc
        if partial is None:
            return None
        return self._entity(self._record(response["Attributes"]))

    def _diagnose(
        self,
        key: str,
        item: Mapping[str, Any] | None,
        expected: int | None,
        tree: Filter | None,
        rejection_message: str | None,
    ) -> Exception | None:
        """Why a guarded write was refused, or None when it was only our own guard."""
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

    async def _rewrite(
        self,
        key: str,
        change: Callable[[T], T],
        expected: int | None,
        tree: Filter | None,
        rejection_message: str | None,
        *,
        upsert: T | None = None,
    ) -> T:
        """Read, check, then write the whole item and move its uniqueness items atomically."""
        for attempt in range(WRITE_ATTEMPTS):
            if attempt:
                await backoff(attempt)
            item = await self._get_item(key)
            if item is None or self._expired(item):
                if upsert is None:
                    raise NotFound(self.spec.name, key)
                _, stored, record, new_item = self._prepare_new(upsert)
                try:
                    await self._insert(key, record, new_item)
                    return stored
                except AlreadyExists as exc:
                    if exc.field == self._id:
                        continue  # created meanwhile: replace it
                    raise
            old = self._record(item)
            problem = self._diagnose(key, item, expected, tree, rejection_message)
            if problem is not None:
                raise problem
            updated = change(self._entity(old))
            if entity_id(self.spec, updated) != key:
                raise ConcurrencyConflict(self.spec.name, key, expected)
            if self._version is not None:
                updated = with_version(self.spec, updated, int(old[self._version]) + 1)
            new = to_record(updated)
            old_ttl = self._ttl_of_item(item)
            new_ttl = self._ttl_for(new, old_ttl, creating=False)
            new_item = self._item(new, new_ttl)
            write = _Write()
            write.add({"Put": self._guarded(new_item, old, tree)})
            self._move_uniques(write, key, old, new, old_ttl, new_ttl)
            if await self._commit(write):
                return updated
        raise ConcurrencyConflict(self.spec.name, key, expected)

    def _guarded(
        self,
        item: Item | None,
        old: Mapping[str, Any],
        tree: Filter | None,
        *,
        key: str | None = None,
    ) -> dict[str, Any]:
        """A Put of ``item`` (or a Delete of ``key``) valid only while the stored item is the
        one we read: same version (or same unique values), condition still true."""
        expr = Expression()
        guards = [f"attribute_exists({expr.name(self._id)})"]
        if self._version is not None:
            guards.append(
                f"{expr.name(self._version)} = {expr.value({'N': str(old[self._version])})}"
            )
        else:
            for name in self.layout.unique:
                guards.append(expr.equals(name, to_av(old.get(name), self._fields[name])))

        def pin(cond: Condition) -> str:
            return expr.equals(cond.field, to_av(get_path(old, cond.field)))

        compiled, _ = compile_filter(tree, expr, self.spec.schema, pin=pin)
        guards.append(compiled or "")
        action: dict[str, Any] = {
            "TableName": self.layout.table,
            "ConditionExpression": join("AND", guards),
            **expr.params(),
        }
        if item is not None:
            action["Item"] = item
        else:
            assert key is not None
            action["Key"] = self._key(key)
        return action

    def _move_uniques(
        self,
        write: _Write,
        key: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any] | None,
        old_ttl: int | None,
        new_ttl: int | None,
    ) -> None:
        for name in self.layout.unique:
            before = index_key(old.get(name))
            after = index_key(new.get(name)) if new is not None else None
            if before != after:
                if before is not None:
                    self._release(write, name, old.get(name), key)
                if after is not None and new is not None:
                    self._claim(write, name, new.get(name), key, new_ttl)
            elif after is not None and new is not None and new_ttl != old_ttl:
                self._claim(write, name, new.get(name), key, new_ttl)

    async def _commit(self, write: _Write) -> bool:
        """True when written; False when the item changed since it was read (read again)."""
        if len(write.actions) == 1:
            ((kind, action),) = write.actions[0].items()
            with driver_errors(self.spec.name, reading=False):
                try:
                    if kind == "Put":
                        await self._client.put_item(**action)
                    else:
                        await self._client.delete_item(**action)
                    return True
                except ClientError as exc:
                    if error_code(exc) == CCF:
                        return False
                    raise
        codes = await self._transact(write)
        if codes is None:
            return True
        self._raise_claim_failure(write, codes)
        return False

    async def upsert(self, entity: T) -> T:
        key = entity_id(self.spec, entity)
        if self.layout.unique:
            return await self._rewrite(key, lambda _c: entity, None, None, None, upsert=entity)
        record = to_record(entity)
        for attempt in range(WRITE_ATTEMPTS):
            if attempt:
                await backoff(attempt)
            expr = Expression()
            sets = []
            removes = []
            for name, value in record.items():
                if name in (self._id, self._version):
                    continue
                sets.append(f"{expr.name(name)} = {expr.value(to_av(value, self._fields[name]))}")
                if name in self.layout.indexed:
                    ix = index_key(value)
                    if ix is None:
                        removes.append(expr.name(index_attribute(name)))
                    else:
                        sets.append(f"{expr.name(index_attribute(name))} = {expr.value({'S': ix})}")
            t = expr.name(TTL_ATTRIBUTE)
            new_ttl = self._ttl_for(record, None, creating=True)
            if self.spec.ttl_field is not None:
                if new_ttl is None:
                    removes.append(t)
                else:
                    sets.append(f"{t} = {expr.value({'N': str(new_ttl)})}")
            elif new_ttl is not None:
                sets.append(f"{t} = if_not_exists({t}, {expr.value({'N': str(new_ttl)})})")
            if self._version is not None:
                v = expr.name(self._version)
                zero, one = expr.value({"N": "0"}), expr.value({"N": "1"})
                sets.append(f"{v} = if_not_exists({v}, {zero}) + {one}")
            i = expr.name(self._id)
            update = "SET " + ", ".join(sets) if sets else ""
            if removes:
                update += " REMOVE " + ", ".join(removes)
            if not update:
                update = f"SET {i} = {i}"  # pragma: no cover - an entity with only an id
            now = expr.value({"N": str(self._now())})
            condition = f"attribute_not_exists({i}) OR attribute_not_exists({t}) OR {t} > {now}"
            with driver_errors(self.spec.name, reading=False):
                try:
                    response = await self._client.update_item(
                        TableName=self.layout.table,
                        Key=self._key(key),
                        UpdateExpression=update.strip(),
                        ConditionExpression=condition,
                        ReturnValues="UPDATED_NEW",
                        **expr.params(),
                    )
                except ClientError as exc:
                    if error_code(exc) != CCF:
                        raise
                    # An expired item is still there: replace it as a fresh insert.
                    _, stored, _, new_item = self._prepare_new(entity)
                    fresh = self._insert_action(new_item, only_over_expired=True)
                    try:
                        await self._client.put_item(**fresh)
                        return stored
                    except ClientError as inner:
                        if error_code(inner) != CCF:
                            raise
                        continue
            if self._version is None:
                return entity
            version = int(response["Attributes"][self._version]["N"])
            return with_version(self.spec, entity, version)
        raise ConcurrencyConflict(self.spec.name, key, None)

    # --- delete ------------------------------------------------------------------------------

    async def delete(
        self,
        id: str,
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> None:
        tree = parse_conditions(self.spec, conditions)
        if not self.layout.unique and _exact(tree, self.spec):
            expr = Expression()
            guards = [
                f"attribute_exists({expr.name(self._id)})",
                expr.live(TTL_ATTRIBUTE, self._now()),
            ]
            if expected_version is not None and self._version is not None:
                guards.append(
                    f"{expr.name(self._version)} = {expr.value({'N': str(expected_version)})}"
                )
            compiled, _ = compile_filter(tree, expr, self.spec.schema)
            guards.append(compiled or "")
            with driver_errors(self.spec.name, reading=False):
                try:
                    await self._client.delete_item(
                        TableName=self.layout.table,
                        Key=self._key(id),
                        ConditionExpression=join("AND", guards) or "",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                        **expr.params(),
                    )
                    return
                except ClientError as exc:
                    if error_code(exc) != CCF:
                        raise
                    old = failed_item(exc)
                    if old is None:
                        old = await self._get_item(id)
                    problem = self._diagnose(id, old, expected_version, tree, rejection_message)
                    raise problem or ConcurrencyConflict(
                        self.spec.name, id, expected_version
                    ) from exc
        for attempt in range(WRITE_ATTEMPTS):
            if attempt:
                await backoff(attempt)
            item = await self._get_item(id)
            problem = self._diagnose(id, item, expected_version, tree, rejection_message)
            if problem is not None:
                raise problem
            assert item is not None
            old = self._record(item)
            write = _Write()
            write.add({"Delete": self._guarded(None, old, tree, key=id)})
            self._move_uniques(write, id, old, None, None, None)
            if await self._commit(write):
                return
        raise ConcurrencyConflict(self.spec.name, id, expected_version)

    async def delete_many(self, ids: Sequence[str]) -> int:
        now = self._now()
        projection = (self._id, TTL_ATTRIBUTE, *self.layout.unique)
        if self._version is not None:
            projection = (*projection, self._version)
        items = await self._batch_items(ids, projection)
        live = {item[self._id]["S"] for item in items if not self._expired(item, now)}
        if not self.layout.unique:
            requests = [
                WriteRequest(
                    self.layout.table,
                    {"DeleteRequest": {"Key": {self._id: item[self._id]}}},
                    {self._id: item[self._id]},
                    item[self._id]["S"],
                )
                for item in items
            ]
            failed = await batch_write(
                self._client, requests, attempts=self._backend.batch_attempts, what=self.spec.name
            )
            if failed:
                raise BatchWriteError(self.spec.name, failed)
            return len(live)
        # Uniqueness items go with their entity: transactions of up to 100 actions.
        removed = 0
        chunk: list[Item] = []
        size = 0
        for item in [*items, None]:
            cost = 1 + len(self.layout.unique) if item is not None else TRANSACTION_LIMIT + 1
            if chunk and size + cost > TRANSACTION_LIMIT:
                removed += await self._delete_chunk(chunk, live)
                chunk, size = [], 0
            if item is not None:
                chunk.append(item)
                size += cost
        return removed

    async def _delete_chunk(self, chunk: Sequence[Item], live: set[str]) -> int:
        write = _Write()
        records = []
        for item in chunk:
            key = item[self._id]["S"]
            raw = {n: from_av(item[n], self._fields[n]) for n in item if n in self._fields}
            write.add({"Delete": self._guarded(None, raw, None, key=key)})
            self._move_uniques(write, key, raw, None, None, None)
            records.append(key)
        codes = await self._transact(write)
        if codes is None:
            return sum(1 for key in records if key in live)
        removed = 0  # something moved meanwhile: one by one
        for key in records:
            try:
                await self.delete(key)
                removed += 1
            except NotFound:
                pass
        return removed


def _exact(tree: Filter | None, spec: EntitySpec[Any]) -> bool:
    return compile_filter(tree, Expression(), spec.schema)[1]


def _hashable(values: Any) -> bool:
    try:
        hash(tuple(values))
        return True
    except TypeError:
        return False
