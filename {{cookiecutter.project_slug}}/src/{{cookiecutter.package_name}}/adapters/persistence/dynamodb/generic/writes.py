"""generic-repo's writes: ``save`` (one PutItem), ``delete``, ``update`` (one UpdateItem that
never creates the item, guarded by its conditions) and batch writes of 25 with retries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from .....ports.errors import BatchWriteError, ConditionFailed, InvalidInput
from ...evaluation import matches
from ..batch import WriteRequest, batch_write
from ..errors import driver_errors, error_code, failed_item
from ..expressions import Expression, join
from ..serialization import Item, plain_item, to_av
from .table import Conditions, GenericTable, ItemNotFound, key_text


class GenericWrites(GenericTable):
    # --- single items ------------------------------------------------------------------------

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
                raise ItemNotFound(self.table_name, key_text(key))
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
                    raise ItemNotFound(self.table_name, key_text(key)) from exc
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
                    self.table_name, {"PutRequest": {"Item": self._item(data)}}, key, key_text(key)
                )
            )
        await self._batch(requests)

    async def delete_batch_by_keys(self, keys: Sequence[Mapping[str, Any] | Any]) -> None:
        requests = []
        for raw in keys:
            key = self._key_of(raw) if isinstance(raw, Mapping) else self._simple_key(raw)
            requests.append(
                WriteRequest(self.table_name, {"DeleteRequest": {"Key": key}}, key, key_text(key))
            )
        await self._batch(requests)

    async def _batch(self, requests: Sequence[WriteRequest]) -> None:
        failed = await batch_write(
            self.client, requests, attempts=self.batch_attempts, what=self.table_name
        )
        if failed:
            raise BatchWriteError(self.table_name, failed)
