"""Referential integrity on DynamoDB: reference counters on targets, and the ``on_delete``
rules applied in the transaction that deletes the target.

- A child stored pointing at a target adds 1 to the target's hidden counter for that relation
  (``tables.counter_attribute``) in the child's own transaction, with the condition that the
  target is there and live: a missing target cancels it (``ReferenceNotFound``) and nothing is
  written. Moving the reference away (update, delete, set_null) subtracts 1.
- Deleting a target reads its counters. restrict: any child left is ``StillReferenced``, and
  the Delete carries ``counter <= 0``. cascade/set_null: the children are found with a Query on
  the child's GSI of the reference (every enforced reference field has one), each is deleted
  (by its own rules, recursively) or has its reference set to null (version unchanged), and the
  target's Delete carries ``counter = <children handled>``. A child added or moved meanwhile
  changes the counter, so the transaction is cancelled and the delete starts again: no child
  is ever left pointing at a deleted target.
- Counters only count what was written through this adapter: items stored before a relation
  declared ``on_delete`` need their counters backfilled once. An item removed by DynamoDB's
  own TTL deletion bypasses these rules (that deletion carries no condition); expired targets
  are treated as missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from ....ports.errors import ConcurrencyConflict, ReferenceNotFound, StillReferenced
from ..common import referencing
from ..registry import OnDelete, Relation
from .base import Current, DynamoDbBase
from .conditions import Cond, CounterAtMost, CounterEquals, Live, counter
from .staging import Conflict, Staging
from .tables import counter_attribute

T = TypeVar("T")


class DynamoDbReferences(DynamoDbBase[T]):
    def _related(self, name: str) -> DynamoDbReferences[Any]:
        return self._backend.entity_repository(name)

    def _move_references(
        self, staging: Staging, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> None:
        """Count this item in the targets ``new`` points at, and out of those ``old`` did."""
        for rel in self.spec.references.values():
            before = old.get(rel.local_field) if old is not None else None
            after = new.get(rel.local_field) if new is not None else None
            if before == after:
                continue
            if after is not None:
                self._count(staging, rel, after, 1)
            if before is not None:
                self._count(staging, rel, before, -1)

    def _count(self, staging: Staging, rel: Relation, value: Any, delta: int) -> None:
        name, field = self.spec.name, rel.local_field

        def missing() -> Exception:
            return ReferenceNotFound(name, field, value, rel.target)

        if not isinstance(value, str) or not value:
            if delta > 0:
                raise missing()
            return  # nothing was ever counted for it
        target = self._related(rel.target)
        live = Live(key=target._id, failure=missing, skip=delta < 0)
        staging.stage(
            target.layout.table,
            target._key(value),
            conds=[live],
            counters={counter_attribute(name, field): delta},
        )

    async def _stage_delete(
        self, staging: Staging, key: str, current: Current, conds: list[Cond]
    ) -> None:
        """Delete ``current`` (guarded by ``conds``) with what its relations require."""
        item = current.item
        assert item is not None
        guards = list(conds)
        work: list[tuple[DynamoDbReferences[Any], Relation, list[Current]]] = []
        for child, rel in referencing(self._backend.specs, self.spec.name):
            attribute = counter_attribute(child.name, rel.local_field)
            count = counter(item, attribute)
            label = f"{child.name}.{rel.local_field}"

            def referenced(label: str = label) -> Exception:
                return StillReferenced(self.spec.name, key, label)

            if rel.on_delete is OnDelete.RESTRICT:
                if count > 0:
                    raise referenced()
                guards.append(CounterAtMost(attribute=attribute, limit=0, failure=referenced))
                continue
            repo = self._related(child.name)
            children = await repo._children(staging, rel.local_field, key, count)
            if len(children) != count:
                raise Conflict()  # the index has not caught up, or a child came or went

            def changed() -> Exception:
                return ConcurrencyConflict(self.spec.name, key, None)

            guards.append(
                CounterEquals(attribute=attribute, count=count, failure=changed, retry=True)
            )
            work.append((repo, rel, children))
        record = self._record(item)
        staging.stage(self.layout.table, self._key(key), effect="delete", conds=guards)
        self._move_claims(staging, key, record, None, None, None)
        self._move_references(staging, record, None)
        for repo, rel, children in work:
            for found in children:
                await repo._apply_rule(staging, rel, key, found)

    async def _apply_rule(
        self, staging: Staging, rel: Relation, target: str, found: Current
    ) -> None:
        """Cascade to, or set null in, one child of a target being deleted."""
        assert found.item is not None
        key = found.item[self._id]["S"]
        staged, view = staging.view(self.layout.table, self._key(key))
        if staged:
            if view is None or view.get(rel.local_field) != {"S": target}:
                return  # deleted or moved by what is staged already
            found = Current(view, None)
        assert found.item is not None
        if rel.on_delete is OnDelete.CASCADE:
            await self._stage_delete(staging, key, found, [self._same(key, found.item)])
        else:
            self._stage_set_null(staging, key, found, rel.local_field)

    def _stage_set_null(self, staging: Staging, key: str, found: Current, field: str) -> None:
        """The child's reference set to null; its version does not move (as SQL's SET NULL)."""
        item = found.item
        assert item is not None
        old = self._record(item)
        new = {**old, field: None}
        ttl = self._ttl_of_item(item)
        new_item = self._item(new, ttl)
        staging.stage(
            self.layout.table,
            self._key(key),
            effect="update",
            item=new_item,
            removes=self._absent(new_item),
            base=found.stored,
            conds=[self._same(key, item)],
        )
        self._move_claims(staging, key, old, new, ttl, ttl)
        self._move_references(staging, old, new)

    async def _children(
        self, staging: Staging, field: str, value: str, count: int
    ) -> list[Current]:
        """The items whose ``field`` points at ``value``, as the staged writes leave them."""
        if count <= 0:
            return []
        table = self.layout.table
        found: dict[str, Current] = {}
        for stored in await self._index_items(field, value):
            key = self._key(stored[self._id]["S"])
            if not staging.view(table, key)[0]:
                found[stored[self._id]["S"]] = Current(staging.adjust(table, key, stored), stored)
        for view in staging.staged(table):
            if view.get(field) == {"S": value}:
                found[view[self._id]["S"]] = Current(view, None)
        return list(found.values())
