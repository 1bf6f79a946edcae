"""What every generic-repo call shares: the table's client and its lifecycle, the key layout
(partition key, optional sort key), TTL expiry and the translation of conditions.

The read and write mixins (``reads.py``, ``writes.py``) build on :class:`GenericTable`.
"""

from __future__ import annotations

import importlib
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aioboto3
from aiobotocore.config import AioConfig

from .....ports.errors import InvalidInput, NotFound
from .....ports.query import parse_filter
from ....aws import OwnedClient, StartCloseContext
from ...evaluation import matches
from ..errors import driver_errors
from ..expressions import Expression, compile_filter
from ..serialization import Item, plain_item, to_av

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

Conditions = Mapping[str, Any] | Any  # the kit's dict syntax, or a boto3 condition (Attr/Key)

_PLACEHOLDER = re.compile(r"([#:])([nv])(\d+)\b")


class ItemNotFound(NotFound, ValueError):
    """The item does not exist (a ValueError too, which is what generic-repo raised)."""


class GenericTable(StartCloseContext):
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
        # The package's logger: the name this surface logged under when it was one module.
        self.logger = logger or logging.getLogger(__package__)
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

    # --- TTL ---------------------------------------------------------------------------------

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

    # --- key layout --------------------------------------------------------------------------

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

    # --- conditions and filters --------------------------------------------------------------

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

    # --- the one read writes need too --------------------------------------------------------

    async def _load(self, key: Item) -> dict[str, Any] | None:
        with driver_errors(self.table_name):
            response = await self.client.get_item(
                TableName=self.table_name, Key=key, ConsistentRead=True
            )
        item = response.get("Item")
        if item is None or self._expired(item):
            return None
        return plain_item(item)


def key_text(key: Mapping[str, Mapping[str, Any]]) -> Any:
    """The key's plain value(s), as errors name an item."""
    values = [next(iter(v.values())) for v in key.values()]
    return values[0] if len(values) == 1 else tuple(values)
