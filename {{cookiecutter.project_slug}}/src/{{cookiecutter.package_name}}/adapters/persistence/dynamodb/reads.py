"""The reads of the DynamoDB repository (access paths: see the repository's docstring)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any, TypeVar

from ....ports.errors import InvalidCursor, InvalidQuery
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
from ..common import build_page, parse_conditions, prepare, validate_field
from ..evaluation import after_keyset, compare_values, get_path, matches, sort_records
from .base import DynamoDbBase
from .expressions import Expression, compile_filter, join
from .serialization import Item, index_key
from .tables import TTL_ATTRIBUTE, index_attribute, index_name

T = TypeVar("T")

MAX_QUERY_FANOUT = 50  # an ``in`` on an indexed field runs one Query per value up to this
QUERY_CONCURRENCY = 16


@dataclass(frozen=True)
class _Plan:
    kind: str  # "get" | "batch" | "query" | "scan"
    field: str | None = None
    keys: tuple[Any, ...] = ()

    @property
    def native(self) -> bool:
        """One Scan or one Query: pages can resume from a key."""
        return self.kind == "scan" or (self.kind == "query" and len(self.keys) == 1)


class DynamoDbReads(DynamoDbBase[T]):
    async def get(self, id: str) -> T | None:
        if not isinstance(id, str) or not id:
            return None
        item = await self._get_item(id)
        if item is None or self._expired(item):
            return None
        return self._entity(self._record(item))

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
            except InvalidQuery as exc:  # pragma: no cover - DynamoDB refusing a start key
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
            cursor = backend_cursor(prepared, {"p": plan_id, "x": position})
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


def _hashable(values: Any) -> bool:
    try:
        hash(tuple(values))
        return True
    except TypeError:
        return False
