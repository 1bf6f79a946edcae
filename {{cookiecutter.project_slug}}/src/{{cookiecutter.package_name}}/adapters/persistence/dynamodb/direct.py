"""Writes that need no read: one conditional UpdateItem/DeleteItem, used outside units of
work when nothing else has to move with the item (no unique value, no reference counter)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from ....ports.errors import ConcurrencyConflict, StillReferenced
from ....ports.query import Filter
from ..codec import to_record
from ..common import referencing, with_version
from .base import DynamoDbBase
from .conditions import counter
from .errors import backoff, driver_errors, error_code, failed_item
from .expressions import Expression, compile_filter, join
from .serialization import index_key, to_av
from .staging import CCF
from .tables import TTL_ATTRIBUTE, counter_attribute, index_attribute

T = TypeVar("T")
WRITE_ATTEMPTS = 8


class Retry(Exception):
    """Only our own guard failed (a unique value or reference moves): take the slow path."""


class DynamoDbDirect(DynamoDbBase[T]):
    def _sets(self, expr: Expression, record: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """SET and REMOVE clauses writing every field of ``record`` (and its index keys)."""
        sets: list[str] = []
        removes: list[str] = []
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
        return sets, removes

    async def _update_in_place(
        self,
        key: str,
        record: Mapping[str, Any],
        expected: int | None,
        tree: Filter | None,
        rejection_message: str | None,
    ) -> None:
        """Replace every field in one conditional UpdateItem, guarded by the version, the
        caller's conditions and the values of the fields that move other items (unchanged
        here, else ``Retry``). Hidden attributes (reference counters) are kept."""
        expr = Expression()
        sets, removes = self._sets(expr, record)
        t = expr.name(TTL_ATTRIBUTE)
        ttl = self._ttl_for(record, None, creating=False)
        if self.spec.ttl_field is not None:
            if ttl is None:
                removes.append(t)
            else:
                sets.append(f"{t} = {expr.value({'N': str(ttl)})}")
        guards = [f"attribute_exists({expr.name(self._id)})", expr.live(TTL_ATTRIBUTE, self._now())]
        if self._version is not None and expected is not None:
            v = expr.name(self._version)
            guards.append(f"{v} = {expr.value({'N': str(expected)})}")
            sets.append(f"{v} = {expr.value({'N': str(expected + 1)})}")
        for name in self.layout.guarded:
            guards.append(expr.equals(name, to_av(record.get(name), self._fields[name])))
        if self.spec.ttl_field is not None and self.layout.unique_table is not None:
            if ttl is None:
                guards.append(expr.nullish(TTL_ATTRIBUTE))
            else:
                guards.append(f"{t} = {expr.value({'N': str(ttl)})}")
        compiled, _ = compile_filter(tree, expr, self.spec.schema)
        guards.append(compiled or "")
        update = "SET " + ", ".join(sets)
        if removes:
            update += " REMOVE " + ", ".join(removes)
        with driver_errors(self.spec.name, reading=False):
            try:
                await self._client.update_item(
                    TableName=self.layout.table,
                    Key=self._key(key),
                    UpdateExpression=update,
                    ConditionExpression=join("AND", guards) or "",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    **expr.params(),
                )
            except ClientError as exc:
                if error_code(exc) != CCF:
                    raise
                old = failed_item(exc)
                if old is None:
                    old = await self._get_item(key)
                problem = self._diagnose(key, old, expected, tree, rejection_message)
                if problem is None:
                    raise Retry() from exc
                raise problem from exc

    async def _upsert_in_place(self, key: str, entity: T) -> T:
        """Insert or replace in one UpdateItem (``version = if_not_exists(version, 0) + 1``);
        an expired item still there is replaced by a fresh insert."""
        record = to_record(entity)
        for attempt in range(WRITE_ATTEMPTS):
            if attempt:
                await backoff(attempt)
            expr = Expression()
            sets, removes = self._sets(expr, record)
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
            update = "SET " + ", ".join(sets) if sets else f"SET {i} = {i}"
            if removes:
                update += " REMOVE " + ", ".join(removes)
            now = expr.value({"N": str(self._now())})
            condition = f"attribute_not_exists({i}) OR attribute_not_exists({t}) OR {t} > {now}"
            with driver_errors(self.spec.name, reading=False):
                try:
                    response = await self._client.update_item(
                        TableName=self.layout.table,
                        Key=self._key(key),
                        UpdateExpression=update,
                        ConditionExpression=condition,
                        ReturnValues="UPDATED_NEW",
                        **expr.params(),
                    )
                except ClientError as exc:
                    if error_code(exc) != CCF:
                        raise
                    # An expired item is still there: replace it as a fresh insert.
                    stored = with_version(self.spec, entity, 1)
                    fresh = to_record(stored)
                    item = self._item(fresh, self._ttl_for(fresh, None, creating=True))
                    e = Expression()
                    try:
                        await self._client.put_item(
                            TableName=self.layout.table,
                            Item=item,
                            ConditionExpression=f"{e.name(TTL_ATTRIBUTE)} <= "
                            f"{e.value({'N': str(self._now())})}",
                            **e.params(),
                        )
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

    async def _delete_in_place(
        self,
        key: str,
        expected: int | None,
        tree: Filter | None,
        rejection_message: str | None,
    ) -> None:
        """One conditional DeleteItem; restrict rules are guards on the item's counters."""
        expr = Expression()
        guards = [f"attribute_exists({expr.name(self._id)})", expr.live(TTL_ATTRIBUTE, self._now())]
        if expected is not None and self._version is not None:
            guards.append(f"{expr.name(self._version)} = {expr.value({'N': str(expected)})}")
        restricted = [
            (child.name, rel.local_field)
            for child, rel in referencing(self._backend.specs, self.spec.name)
        ]
        for child_name, field in restricted:
            a = expr.name(counter_attribute(child_name, field))
            guards.append(f"(attribute_not_exists({a}) OR {a} <= {expr.value({'N': '0'})})")
        compiled, _ = compile_filter(tree, expr, self.spec.schema)
        guards.append(compiled or "")
        with driver_errors(self.spec.name, reading=False):
            try:
                await self._client.delete_item(
                    TableName=self.layout.table,
                    Key=self._key(key),
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
                    old = await self._get_item(key)
                problem = self._diagnose(key, old, expected, tree, rejection_message)
                if problem is not None:
                    raise problem from exc
                for child_name, field in restricted:
                    if counter(old, counter_attribute(child_name, field)) > 0:
                        raise StillReferenced(self.spec.name, key, f"{child_name}.{field}") from exc
                raise ConcurrencyConflict(self.spec.name, key, expected) from exc
