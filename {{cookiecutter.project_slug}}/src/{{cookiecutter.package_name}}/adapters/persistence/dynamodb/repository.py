"""The Repository port on DynamoDB (layout and trade-offs: docs/dynamodb.md).

Reads (``reads.py``)
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

Writes: every stored entity is ``through_domain(entity)`` (built again by its constructor).
Each write is staged (``staging.py``: one action per item, the entity item with its uniqueness
items and the reference counters of its targets, see ``references.py``) and sent as ONE
request: a single PutItem/UpdateItem/DeleteItem when only the entity item is written, else one
TransactWriteItems. Round trips, outside a unit of work:
- ``add``: 1 (PutItem, or one transaction with uniqueness items / reference counters).
- ``update``: 1 (a conditional UpdateItem: version, conditions, and the unique and reference
  fields unchanged); when a unique value or a reference moves: 1 GetItem + 1 transaction.
- ``update_fields``: 1 GetItem + 1 write: the merged entity is validated by its constructor
  (``apply_changes``), then the whole item is written guarded by the version read (no version
  field: by every attribute read). When someone wrote in between and the caller gave no
  ``expected_version``, it reads again and retries (up to 8 times).
- ``upsert``: 1 UpdateItem (``version = if_not_exists(version, 0) + 1``); with unique values or
  enforced references: 1 GetItem + 1 write.
- ``delete``: 1 DeleteItem (restrict rules are conditions on the item's counters); with unique
  values, references of its own, or cascade/set_null children: 1 GetItem, 1 Query per
  relation that has children (per level of cascade), + 1 transaction.
- ``add_many``: 1 transaction when it fits in 100 items (all-or-nothing); otherwise
  transactions of up to 100 actions when unique values or references need conditions (and
  nothing else: a refused one undoes the earlier ones and raises the refusal), or
  BatchWriteItem in 25s after a BatchGetItem per 100 ids (``bulk.py``); BatchWriteError names
  exactly the ids not written.
- ``delete_many``: 1 BatchGetItem per 100 ids, then BatchWriteItem in 25s, or transactions of
  up to 100 items when uniqueness items, counters or children move with the items.
A rejected condition is diagnosed from the item DynamoDB returns: NotFound,
ConcurrencyConflict, ConditionFailed(rejection_message), AlreadyExists, ReferenceNotFound or
StillReferenced. Inside a unit of work (``unit_of_work.py``) the writes are staged in the unit
and sent with it; the reads they make are the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from ....ports.errors import AlreadyExists, ConcurrencyConflict, NotFound
from ....ports.query import Filter, FilterInput
from ..codec import to_record
from ..common import (
    apply_changes,
    check_changes,
    entity_id,
    new_record,
    parse_conditions,
    referencing,
    through_domain,
    unique_label,
    version_of,
    with_version,
)
from ..registry import EntitySpec, OnDelete, Relation
from .bulk import delete_in_transactions, write_large_batch
from .conditions import Free
from .direct import DynamoDbDirect, Retry
from .errors import backoff
from .expressions import Expression, compile_filter
from .reads import DynamoDbReads
from .references import DynamoDbReferences
from .serialization import Item
from .staging import TRANSACTION_LIMIT, Conflict, Staging, signature
from .tables import UNIQUE_KEY
from .unit_of_work import current_unit

T = TypeVar("T")
R = TypeVar("R")

WRITE_ATTEMPTS = 8

Prepared = tuple[str, Any, dict[str, Any], Item]  # key, entity as stored, record, item


class DynamoDbRepository(DynamoDbReferences[T], DynamoDbDirect[T], DynamoDbReads[T]):
    # --- running a staged write --------------------------------------------------------------

    async def _run(self, build: Callable[[Staging], Awaitable[R]], key: str) -> R:
        """Stage a write and send it; in a unit of work, stage it in the unit. When someone
        wrote between our read and our write, read again and retry."""
        unit = current_unit(self._backend)
        if unit is not None:
            return await unit.run(build, self.spec.name, key)
        for attempt in range(WRITE_ATTEMPTS):
            if attempt:
                await backoff(attempt)
            staging = Staging()
            try:
                result = await build(staging)
                await staging.commit(self._client, self.spec.name)
                return result
            except Conflict:
                continue
        raise ConcurrencyConflict(self.spec.name, key, None)

    @property
    def _in_unit(self) -> bool:
        return current_unit(self._backend) is not None

    # --- create ------------------------------------------------------------------------------

    def _prepare_new(self, entity: T) -> Prepared:
        key, stored, record = new_record(self.spec, entity)
        return key, stored, record, self._item(record, self._ttl_for(record, None, creating=True))

    def _stage_new(self, staging: Staging, new: Prepared, *, replacing: bool = False) -> None:
        """Insert (the id free or expired), claim the unique values, count the references.
        ``replacing`` (upsert): an item created meanwhile means read again, not AlreadyExists."""
        key, _, record, item = new

        def taken() -> Exception:
            if replacing:
                return ConcurrencyConflict(self.spec.name, key, None)
            return AlreadyExists(self.spec.name, self._id, key)

        free = Free(key=self._id, failure=taken, retry=replacing)
        staging.stage(self.layout.table, self._key(key), effect="put", item=item, conds=[free])
        self._move_claims(staging, key, None, record, None, self._ttl_of_item(item))
        self._move_references(staging, None, record)

    async def add(self, entity: T) -> T:
        new = self._prepare_new(entity)

        async def build(staging: Staging) -> T:
            self._stage_new(staging, new)
            stored: T = new[1]
            return stored

        return await self._run(build, new[0])

    async def add_many(self, entities: Sequence[T]) -> list[T]:
        prepared = [self._prepare_new(e) for e in entities]
        if not prepared:
            return []
        footprint: set[str] = set()
        seen_ids: set[str] = set()
        seen_claims: set[str] = set()
        for key, _, record, _ in prepared:
            if key in seen_ids:
                raise AlreadyExists(self.spec.name, self._id, key)
            seen_ids.add(key)
            for unique_key, (fields, values) in self._claims(record).items():
                if unique_key in seen_claims:
                    value = values[0] if len(values) == 1 else values
                    raise AlreadyExists(self.spec.name, unique_label(fields), value)
                seen_claims.add(unique_key)
            footprint |= self._footprint(key, record)
        stored = [entry[1] for entry in prepared]
        if self._in_unit or len(footprint) <= TRANSACTION_LIMIT:

            async def build(staging: Staging) -> list[T]:
                for entry in prepared:
                    self._stage_new(staging, entry)
                return stored

            return await self._run(build, prepared[0][0])
        await write_large_batch(self, prepared)
        return stored

    def _footprint(self, key: str, record: Mapping[str, Any]) -> set[str]:
        """The items a new entity's transaction touches (to size batches)."""
        touched = {signature(self.layout.table, self._key(key))}
        if self.layout.unique_table is not None:
            for unique_key in self._claims(record):
                touched.add(signature(self.layout.unique_table, {UNIQUE_KEY: {"S": unique_key}}))
        for rel in self.spec.references.values():
            value = record.get(rel.local_field)
            if isinstance(value, str) and value:
                target = self._related(rel.target)
                touched.add(signature(target.layout.table, target._key(value)))
        return touched

    # --- update ------------------------------------------------------------------------------

    async def _stage_rewrite(
        self,
        staging: Staging,
        key: str,
        change: Callable[[T], T],
        expected: int | None,
        tree: Filter | None,
        rejection_message: str | None,
        *,
        upsert: T | None = None,
    ) -> T:
        """Read, check, then write the whole new item guarded by what was read, moving its
        uniqueness items and reference counts with it."""
        current = await self._current(staging, key)
        item = current.item
        if item is None or self._expired(item):
            if upsert is None:
                raise NotFound(self.spec.name, key)
            new = self._prepare_new(upsert)
            self._stage_new(staging, new, replacing=True)
            inserted: T = new[1]
            return inserted
        problem = self._diagnose(key, item, expected, tree, rejection_message)
        if problem is not None:
            raise problem
        old = self._record(item)
        updated = change(self._entity(old))
        if entity_id(self.spec, updated) != key:
            raise ConcurrencyConflict(self.spec.name, key, expected)
        if self._version is not None:
            updated = with_version(self.spec, updated, int(old[self._version]) + 1)
        new_record = to_record(updated)
        old_ttl = self._ttl_of_item(item)
        new_ttl = self._ttl_for(new_record, old_ttl, creating=False)
        new_item = self._item(new_record, new_ttl)
        staging.stage(
            self.layout.table,
            self._key(key),
            effect="update",
            item=new_item,
            removes=self._absent(new_item),
            base=current.stored,
            conds=[self._same(key, item)],
        )
        self._move_claims(staging, key, old, new_record, old_ttl, new_ttl)
        self._move_references(staging, old, new_record)
        return updated

    async def update(
        self,
        entity: T,
        *,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        key = entity_id(self.spec, entity)
        tree = parse_conditions(self.spec, conditions)
        entity = through_domain(self.spec, entity)
        expected = version_of(self.spec, entity)
        stored = with_version(self.spec, entity, (expected or 0) + 1)
        if not self._in_unit and _exact(tree, self.spec):
            try:
                await self._update_in_place(
                    key, to_record(stored), expected, tree, rejection_message
                )
                return stored
            except Retry:
                pass

        async def build(staging: Staging) -> T:
            return await self._stage_rewrite(
                staging, key, lambda _current: entity, expected, tree, rejection_message
            )

        return await self._run(build, key)

    async def update_fields(
        self,
        id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        check_changes(self.spec, changes)
        tree = parse_conditions(self.spec, conditions)

        def change(current: T) -> T:
            return apply_changes(self.spec, current, changes)

        async def build(staging: Staging) -> T:
            return await self._stage_rewrite(
                staging, id, change, expected_version, tree, rejection_message
            )

        return await self._run(build, id)

    async def upsert(self, entity: T) -> T:
        entity = through_domain(self.spec, entity)
        key = entity_id(self.spec, entity)
        if not self._in_unit and self.layout.unique_table is None and not self.spec.references:
            return await self._upsert_in_place(key, entity)

        async def build(staging: Staging) -> T:
            return await self._stage_rewrite(
                staging, key, lambda _current: entity, None, None, None, upsert=entity
            )

        return await self._run(build, key)

    # --- delete ------------------------------------------------------------------------------

    @property
    def _alone(self) -> bool:
        """Deleting an item moves nothing else (no uniqueness item, counter or child)."""
        return (
            self.layout.unique_table is None
            and not self.spec.references
            and all(rel.on_delete is OnDelete.RESTRICT for _, rel in self._referencing)
        )

    @property
    def _referencing(self) -> list[tuple[EntitySpec[Any], Relation]]:
        return referencing(self._backend.specs, self.spec.name)

    async def delete(
        self,
        id: str,
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> None:
        tree = parse_conditions(self.spec, conditions)
        if not self._in_unit and self._alone and _exact(tree, self.spec):
            await self._delete_in_place(id, expected_version, tree, rejection_message)
            return

        async def build(staging: Staging) -> None:
            current = await self._current(staging, id)
            problem = self._diagnose(id, current.item, expected_version, tree, rejection_message)
            if problem is not None:
                raise problem
            assert current.item is not None
            await self._stage_delete(staging, id, current, [self._same(id, current.item)])

        await self._run(build, id)

    async def delete_many(self, ids: Sequence[str]) -> int:
        if self._in_unit:
            removed = 0
            for key in dict.fromkeys(ids):
                try:
                    await self.delete(key)
                    removed += 1
                except NotFound:
                    pass
            return removed
        return await delete_in_transactions(self, ids, plain=self._alone and not self._referencing)


def _exact(tree: Filter | None, spec: EntitySpec[Any]) -> bool:
    return compile_filter(tree, Expression(), spec.schema)[1]
