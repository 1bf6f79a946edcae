"""generic-repo's reads: single items (GetItem, strongly consistent), one partition or one
index key (Query), the whole table (Scan), exact counts; expired items are never returned.

Queries return :class:`QueryResults`, read lazily page after page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Mapping
from typing import Any

from ..errors import driver_errors
from ..expressions import Expression, join
from ..serialization import to_av
from .table import Conditions, GenericTable, ItemNotFound


class QueryResults:
    """The items of a query: ``await`` it for the whole list (the kit's style), or ``async for``
    over it item by item, reading page after page (generic-repo's README)."""

    def __init__(self, items: Callable[[], AsyncIterator[dict[str, Any]]]) -> None:
        self._items = items

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._items()

    def __await__(self) -> Generator[Any, None, list[dict[str, Any]]]:
        return self.collect().__await__()

    async def collect(self) -> list[dict[str, Any]]:
        return [item async for item in self._items()]


class GenericReads(GenericTable):
    # --- single items ------------------------------------------------------------------------

    async def load(self, primary_key_value: Any) -> dict[str, Any] | None:
        return await self._load(self._simple_key(primary_key_value))

    async def load_or_throw(self, primary_key_value: Any) -> dict[str, Any]:
        found = await self.load(primary_key_value)
        if found is None:
            raise ItemNotFound(self.table_name, primary_key_value)
        return found

    async def load_by_composite_key(self, key_dict: Mapping[str, Any]) -> dict[str, Any] | None:
        return await self._load(self._composite_key(key_dict))

    # --- queries -----------------------------------------------------------------------------

    def _read_params(
        self,
        filters: Conditions | None,
        *,
        index_name: str | None = None,
        key_name: str | None = None,
        key_value: Any = None,
    ) -> tuple[dict[str, Any], Any]:
        expr = Expression()
        params: dict[str, Any] = {"TableName": self.table_name}
        if key_name is not None:
            params["KeyConditionExpression"] = (
                f"{expr.name(key_name)} = {expr.value(to_av(key_value))}"
            )
        if index_name is not None:
            params["IndexName"] = index_name
        condition, tree = self._condition(filters, expr)
        live = expr.live(self.ttl_attribute, self._now())
        params["FilterExpression"] = join("AND", [condition, live])
        params.update(expr.params(params.get("KeyConditionExpression"), params["FilterExpression"]))
        return params, tree

    async def _pages(self, operation: str, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        params = dict(params)
        while True:
            with driver_errors(self.table_name):
                if operation == "query":
                    response = dict(await self.client.query(**params))
                else:
                    response = dict(await self.client.scan(**params))
            yield response
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last

    async def _collect(
        self, operation: str, params: dict[str, Any], tree: Any
    ) -> list[dict[str, Any]]:
        return [item async for item in self._each(operation, params, tree)]

    async def _each(
        self, operation: str, params: dict[str, Any], tree: Any
    ) -> AsyncIterator[dict[str, Any]]:
        async for page in self._pages(operation, params):
            for item in self._visible(page.get("Items", []), tree, self._now()):
                yield item

    def find_all(self, partition_key: Any, filters: Conditions | None = None) -> QueryResults:
        """Every item of one partition (Query on the table's partition key): ``await`` it for
        the list, or ``async for`` over it page by page."""
        params, tree = self._read_params(
            filters, key_name=self.primary_key_name, key_value=partition_key
        )
        return QueryResults(lambda: self._each("query", params, tree))

    def find_all_with_index(
        self,
        index_name: str,
        key_name: str,
        key_value: Any,
        filters: Conditions | None = None,
    ) -> QueryResults:
        """Every item whose ``key_name`` equals ``key_value``: a Query on the GSI/LSI.
        ``await`` it for the list, or ``async for`` over it as generic-repo's README does."""
        params, tree = self._read_params(
            filters, index_name=index_name, key_name=key_name, key_value=key_value
        )
        return QueryResults(lambda: self._each("query", params, tree))

    async def find_one_with_index(
        self,
        index_name: str,
        key_name: str,
        key_value: Any,
        filters: Conditions | None = None,
    ) -> dict[str, Any] | None:
        params, tree = self._read_params(
            filters, index_name=index_name, key_name=key_name, key_value=key_value
        )
        async for page in self._pages("query", params):
            found = self._visible(page.get("Items", []), tree, self._now())
            if found:
                return found[0]
        return None

    async def load_all(self, filters: Conditions | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every item of the table, page by page (a Scan: use it for scripts, not requests)."""
        params, tree = self._read_params(filters)
        async for page in self._pages("scan", params):
            for data in self._visible(page.get("Items", []), tree, self._now()):
                yield data

    async def count(self, filters: Conditions | None = None) -> int:
        """Exact count (``Select=COUNT`` over every page; never the approximate ItemCount)."""
        params, tree = self._read_params(filters)
        if tree is not None:
            return len(await self._collect("scan", params, tree))
        params["Select"] = "COUNT"
        total = 0
        async for page in self._pages("scan", params):
            total += int(page.get("Count", 0))
        return total
