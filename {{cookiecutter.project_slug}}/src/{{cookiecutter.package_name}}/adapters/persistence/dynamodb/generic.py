"""generic-repo's DynamoDB surface, async first, with its semantics fixed.

Same names as generic-repo 2.0.9 (``load``, ``save``, ``find_all_with_index``, composite-key
methods, ``update(..., conditions=..., rejection_message=...)``, ``data_expiration_days``), but:

- every call is async on ONE aiboto3 client (the backend's, or one opened by ``start()`` /
  ``async with``); :class:`GenericRepository` is the blocking facade with the same methods;
- filters and conditions use the kit's dict syntax (a list means ``in``, several operators
  in one dict are ANDed, ``{"exists": False}`` means "does not exist", ``None`` matches null or
  missing; ``le``/``ge``/``lte``/``gte`` all work) or a boto3 ``Attr``/``Key`` condition;
  conditions and filters run server-side (ConditionExpression / FilterExpression);
- a failed condition raises ``ConditionFailed`` carrying ``rejection_message`` (never a
  ``{"success": False}`` dict); updating a missing item raises ``ItemNotFound`` (updates
  never create items); ``load_or_throw`` raises ``ItemNotFound`` (also a ``ValueError``, as
  generic-repo users catch);
- numbers are lossless (float <-> Decimal), sets stay sets, datetimes are ISO 8601 in UTC;
- ``save`` is one PutItem, no extra read; batch writes go 25 at a time, ``UnprocessedItems``
  are retried with backoff and ``BatchWriteError`` names the keys never written;
- with ``data_expiration_days`` every saved item gets ``ttl_attribute`` = now + N days (epoch
  seconds, DynamoDB's TTL format) and items past it are treated as absent on every read.
"""

from __future__ import annotations

import importlib
import logging
import re
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError

from ....ports.errors import BatchWriteError, ConditionFailed, InvalidInput, NotFound
from ....ports.query import parse_filter
from ...aws import OwnedClient, StartCloseContext
from ..evaluation import matches
from ..sync import _LoopThread
from .batch import WriteRequest, batch_write
from .errors import driver_errors, error_code, failed_item
from .expressions import Expression, compile_filter, join
from .serialization import Item, plain_item, to_av

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

R = TypeVar("R")
Conditions = Mapping[str, Any] | Any  # the kit's dict syntax, or a boto3 condition (Attr/Key)

_PLACEHOLDER = re.compile(r"([#:])([nv])(\d+)\b")


class ItemNotFound(NotFound, ValueError):
    """The item does not exist (a ValueError too, which is what generic-repo raised)."""


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


class AsyncGenericRepository(StartCloseContext):
    def __init__(
        self,
        table_name: str,
        primary_key_name: str,
        *,
        sort_key_name: str | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        data_expiration_days: int | None = None,
        ttl_attribute: str = "_ttl",
        client: DynamoDBClient | None = None,
        session: aioboto3.Session | None = None,
        batch_attempts: int = 8,
        logger: logging.Logger | None = None,
    ) -> None:
        if data_expiration_days is not None and data_expiration_days <= 0:
            raise ValueError("data_expiration_days must be positive (or None for no expiry)")
        self.table_name = table_name
        self.primary_key_name = primary_key_name
        self.sort_key_name = sort_key_name
        self.data_expiration_days = data_expiration_days
        self.ttl_attribute = ttl_attribute
        self.batch_attempts = batch_attempts
        self.logger = logger or logging.getLogger(__name__)
        self._client = client
        self._owns_client = client is None
        self._session = session
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self._access_key = (aws_access_key_id, aws_secret_access_key, aws_session_token)
        self._owned: OwnedClient[DynamoDBClient] = OwnedClient()

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open a client of our own (not needed when one was given)."""
        if self._client is not None:
            return
        session = self._session or aioboto3.Session()
        with driver_errors(self.table_name):
            self._client = await self._owned.open(
                session.client(
                    "dynamodb",
                    region_name=self._region_name,
                    endpoint_url=self._endpoint_url,
                    aws_access_key_id=self._access_key[0],
                    aws_secret_access_key=self._access_key[1],
                    aws_session_token=self._access_key[2],
                    config=AioConfig(retries={"max_attempts": 3, "mode": "standard"}),
                )
            )

    async def close(self) -> None:
        if not self._owns_client:
            return
        self._client = None
        await self._owned.close()

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            raise RuntimeError("call start() (or use `async with`) before using the repository")
        return self._client

    # --- helpers -----------------------------------------------------------------------------

    def _now(self) -> int:
        return int(time.time())

    def _expires_at(self) -> int | None:
        if not self.data_expiration_days:
            return None
        return self._now() + self.data_expiration_days * 86400

    def _expired(self, item: Mapping[str, Any], now: int | None = None) -> bool:
        ttl = item.get(self.ttl_attribute)
        if not isinstance(ttl, Mapping) or "N" not in ttl:
            return False
        return float(ttl["N"]) <= (self._now() if now is None else now)

    def _simple_key(self, value: Any) -> Item:
        if self.sort_key_name is not None:
            raise InvalidInput(f"{self.table_name} has a sort key: use the *_composite_key methods")
        return {self.primary_key_name: to_av(value)}

    def _composite_key(self, key: Mapping[str, Any]) -> Item:
        names = [self.primary_key_name] + ([self.sort_key_name] if self.sort_key_name else [])
        missing = [n for n in names if key.get(n) is None]
        if missing:
            raise InvalidInput(f"the key of {self.table_name} needs {missing!r}{self._hint()}")
        return {n: to_av(key[n]) for n in names}

    def _key_of(self, item: Mapping[str, Any]) -> Item:
        if self.sort_key_name is None:
            if item.get(self.primary_key_name) is None:
                raise InvalidInput(
                    f"every item needs {self.primary_key_name!r}, the repository's "
                    f"primary_key_name{self._hint()}"
                )
            return {self.primary_key_name: to_av(item[self.primary_key_name])}
        return self._composite_key(item)

    def _hint(self) -> str:
        """What to pass when a generic-repo example's keys do not match the repository's."""
        if self.sort_key_name is not None:
            return ""
        return (
            "; a table with a partition key and a sort key needs both names: "
            "GenericRepository(table_name, primary_key_name='<partition key>', "
            "sort_key_name='<sort key>')"
        )

    def _item(self, data: Mapping[str, Any]) -> Item:
        item = {name: to_av(value) for name, value in data.items()}
        expires = self._expires_at()
        if expires is not None:
            item[self.ttl_attribute] = {"N": str(expires)}
        return item

    def _condition(self, conditions: Conditions | None, expr: Expression) -> tuple[str | None, Any]:
        """(expression, python-side filter tree or None when the expression is exact)."""
        if conditions is None:
            return None, None
        if hasattr(conditions, "get_expression"):
            return self._boto3_condition(conditions, expr), None
        tree = parse_filter(conditions)
        compiled, exact = compile_filter(tree, expr)
        return compiled, None if exact else tree

    def _boto3_condition(self, condition: Any, expr: Expression) -> str:
        module = importlib.import_module("boto3.dynamodb.conditions")
        built = module.ConditionExpressionBuilder().build_expression(condition)
        renamed: dict[str, str] = {}

        def rename(match: re.Match[str]) -> str:
            token = match.group(0)
            if token not in renamed:
                if match.group(1) == "#":
                    renamed[token] = expr.name(built.attribute_name_placeholders[token])
                else:
                    renamed[token] = expr.value(to_av(built.attribute_value_placeholders[token]))
            return renamed[token]

        return _PLACEHOLDER.sub(rename, str(built.condition_expression))

    def _visible(self, items: Sequence[Item], tree: Any, now: int) -> list[dict[str, Any]]:
        result = []
        for item in items:
            if self._expired(item, now):
                continue
            data = plain_item(item)
            if tree is None or matches(data, tree):
                result.append(data)
        return result

    # --- single items ------------------------------------------------------------------------

    async def _load(self, key: Item) -> dict[str, Any] | None:
        with driver_errors(self.table_name):
            response = await self.client.get_item(
                TableName=self.table_name, Key=key, ConsistentRead=True
            )
        item = response.get("Item")
        if item is None or self._expired(item):
            return None
        return plain_item(item)

    async def load(self, primary_key_value: Any) -> dict[str, Any] | None:
        return await self._load(self._simple_key(primary_key_value))

    async def load_or_throw(self, primary_key_value: Any) -> dict[str, Any]:
        found = await self.load(primary_key_value)
        if found is None:
            raise ItemNotFound(self.table_name, primary_key_value)
        return found

    async def load_by_composite_key(self, key_dict: Mapping[str, Any]) -> dict[str, Any] | None:
        return await self._load(self._composite_key(key_dict))

    async def _save(self, data: Mapping[str, Any]) -> dict[str, Any]:
        self._key_of(data)
        item = self._item(data)
        with driver_errors(self.table_name, reading=False):
            await self.client.put_item(TableName=self.table_name, Item=item)
        return plain_item(item)

    async def save(self, primary_key_value: Any, data: Mapping[str, Any]) -> dict[str, Any]:
        """Put the item (replacing any previous one) and return it as stored."""
        self._simple_key(primary_key_value)
        return await self._save({**data, self.primary_key_name: primary_key_value})

    async def save_with_composite_key(self, item_data: Mapping[str, Any]) -> dict[str, Any]:
        return await self._save(item_data)

    async def _delete(self, key: Item) -> None:
        with driver_errors(self.table_name, reading=False):
            await self.client.delete_item(TableName=self.table_name, Key=key)

    async def delete(self, primary_key_value: Any) -> None:
        await self._delete(self._simple_key(primary_key_value))

    async def delete_by_composite_key(self, key_dict: Mapping[str, Any]) -> None:
        await self._delete(self._composite_key(key_dict))

    async def _update(
        self,
        key: Item,
        update_data: Mapping[str, Any],
        conditions: Conditions | None,
        rejection_message: str | None,
    ) -> dict[str, Any]:
        changes = {k: v for k, v in update_data.items() if k not in key}
        if not changes:
            raise InvalidInput("update needs at least one attribute that is not part of the key")
        expr = Expression()
        sets = [f"{expr.name(k)} = {expr.value(to_av(v))}" for k, v in changes.items()]
        exists = f"attribute_exists({expr.name(self.primary_key_name)})"
        live = expr.live(self.ttl_attribute, self._now())
        condition, tree = self._condition(conditions, expr)
        if tree is not None:
            # An operator DynamoDB cannot run: check it on the stored item, then pin it.
            current = await self._load(key)
            if current is None:
                raise ItemNotFound(self.table_name, _key_text(key))
            if not matches(current, tree):
                raise ConditionFailed(rejection_message or "the update's condition is not met")
            pins = [expr.equals(name, to_av(current.get(name))) for name in sorted(current)]
            condition = join("AND", [condition, *pins])
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": key,
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": join("AND", [exists, live, condition]),
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            **expr.params(),
        }
        with driver_errors(self.table_name, reading=False):
            try:
                response = await self.client.update_item(**params)
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                old = failed_item(exc)
                if old is None:
                    stored = await self._load(key)
                else:
                    stored = None if self._expired(old) else plain_item(old)
                if stored is None:
                    raise ItemNotFound(self.table_name, _key_text(key)) from exc
                raise ConditionFailed(
                    rejection_message or "the update's condition is not met"
                ) from exc
        return plain_item(response["Attributes"])

    async def update(
        self,
        primary_key_value: Any,
        update_data: Mapping[str, Any],
        conditions: Conditions | None = None,
        rejection_message: str | None = None,
    ) -> dict[str, Any]:
        """Set attributes of an existing item, atomically guarded by ``conditions``."""
        return await self._update(
            self._simple_key(primary_key_value), update_data, conditions, rejection_message
        )

    async def update_by_composite_key(
        self,
        key_dict: Mapping[str, Any],
        update_data: Mapping[str, Any],
        conditions: Conditions | None = None,
        rejection_message: str | None = None,
    ) -> dict[str, Any]:
        return await self._update(
            self._composite_key(key_dict), update_data, conditions, rejection_message
        )

    # --- batches -----------------------------------------------------------------------------

    async def save_batch(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Put every item, 25 per BatchWriteItem; raises BatchWriteError naming the keys of
        items still unprocessed after the retries."""
        requests = []
        for data in items:
            key = self._key_of(data)
            requests.append(
                WriteRequest(
                    self.table_name, {"PutRequest": {"Item": self._item(data)}}, key, _key_text(key)
                )
            )
        await self._batch(requests)

    async def delete_batch_by_keys(self, keys: Sequence[Mapping[str, Any] | Any]) -> None:
        requests = []
        for raw in keys:
            key = self._key_of(raw) if isinstance(raw, Mapping) else self._simple_key(raw)
            requests.append(
                WriteRequest(self.table_name, {"DeleteRequest": {"Key": key}}, key, _key_text(key))
            )
        await self._batch(requests)

    async def _batch(self, requests: Sequence[WriteRequest]) -> None:
        failed = await batch_write(
            self.client, requests, attempts=self.batch_attempts, what=self.table_name
        )
        if failed:
            raise BatchWriteError(self.table_name, failed)

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


def _key_text(key: Mapping[str, Mapping[str, Any]]) -> Any:
    values = [next(iter(v.values())) for v in key.values()]
    return values[0] if len(values) == 1 else tuple(values)


class GenericRepository:
    """The blocking facade: :class:`AsyncGenericRepository` run on a private event loop
    thread (async clients are bound to the loop that opened them). Same method names."""

    def __init__(self, table_name: str, primary_key_name: str, **options: Any) -> None:
        if "client" in options:
            raise TypeError(
                "GenericRepository opens its own client; share one with the async class"
            )
        self._runner = _LoopThread()
        self._repo = AsyncGenericRepository(table_name, primary_key_name, **options)
        try:
            self._run(self._repo.start())
        except BaseException:
            self._runner.stop()
            raise

    def _run(self, coroutine: Coroutine[Any, Any, R]) -> R:
        return self._runner.run(coroutine)

    def close(self) -> None:
        self._run(self._repo.close())
        self._runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def load(self, primary_key_value: Any) -> dict[str, Any] | None:
        return self._run(self._repo.load(primary_key_value))

    def load_or_throw(self, primary_key_value: Any) -> dict[str, Any]:
        return self._run(self._repo.load_or_throw(primary_key_value))

    def save(self, primary_key_value: Any, data: Mapping[str, Any]) -> dict[str, Any]:
        return self._run(self._repo.save(primary_key_value, data))

    def delete(self, primary_key_value: Any) -> None:
        self._run(self._repo.delete(primary_key_value))

    def load_by_composite_key(self, key_dict: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._run(self._repo.load_by_composite_key(key_dict))

    def save_with_composite_key(self, item_data: Mapping[str, Any]) -> dict[str, Any]:
        return self._run(self._repo.save_with_composite_key(item_data))

    def delete_by_composite_key(self, key_dict: Mapping[str, Any]) -> None:
        self._run(self._repo.delete_by_composite_key(key_dict))

    def update(
        self,
        primary_key_value: Any,
        update_data: Mapping[str, Any],
        conditions: Conditions | None = None,
        rejection_message: str | None = None,
    ) -> dict[str, Any]:
        return self._run(
            self._repo.update(primary_key_value, update_data, conditions, rejection_message)
        )

    def update_by_composite_key(
        self,
        key_dict: Mapping[str, Any],
        update_data: Mapping[str, Any],
        conditions: Conditions | None = None,
        rejection_message: str | None = None,
    ) -> dict[str, Any]:
        return self._run(
            self._repo.update_by_composite_key(key_dict, update_data, conditions, rejection_message)
        )

    def save_batch(self, items: Sequence[Mapping[str, Any]]) -> None:
        self._run(self._repo.save_batch(items))

    def delete_batch_by_keys(self, keys: Sequence[Mapping[str, Any] | Any]) -> None:
        self._run(self._repo.delete_batch_by_keys(keys))

    def find_all(
        self, partition_key: Any, filters: Conditions | None = None
    ) -> list[dict[str, Any]]:
        return self._run(self._repo.find_all(partition_key, filters).collect())

    def find_all_with_index(
        self, index_name: str, key_name: str, key_value: Any, filters: Conditions | None = None
    ) -> list[dict[str, Any]]:
        found = self._repo.find_all_with_index(index_name, key_name, key_value, filters)
        return self._run(found.collect())

    def find_one_with_index(
        self, index_name: str, key_name: str, key_value: Any, filters: Conditions | None = None
    ) -> dict[str, Any] | None:
        return self._run(self._repo.find_one_with_index(index_name, key_name, key_value, filters))

    def load_all(self, filters: Conditions | None = None) -> Iterator[dict[str, Any]]:
        pages = self._repo.load_all(filters)
        try:
            while True:
                done, item = self._run(_next(pages))
                if done or item is None:
                    return
                yield item
        finally:
            self._run(_close(pages))

    def count(self, filters: Conditions | None = None) -> int:
        return self._run(self._repo.count(filters))


async def _next(iterator: AsyncIterator[R]) -> tuple[bool, R | None]:
    try:
        return False, await anext(iterator)
    except StopAsyncIteration:
        return True, None


async def _close(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
