"""Referential integrity on MongoDB, the bookkeeping: each target's hidden
``_refs.<child>:<field>`` counters (raised before a child points at it, lowered after it stops,
recounted on demand) and the ``_deleting`` marks of a cascading delete. The rules and what a
crash leaves behind are in :mod:`.repository`'s docstring; the deletes that apply ``on_delete``
in :mod:`.deletes`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from pymongo import UpdateOne

from ....ports.errors import KitError, ReferenceNotFound, StillReferenced
from ..common import referencing
from ..registry import OnDelete
from .base import MongoBase
from .codec import to_bson
from .filters import Document, all_of

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

T = TypeVar("T")

# The logger these warnings had before the repository was split in modules.
log = logging.getLogger(f"{__package__}.repository")

REFS = "_refs"  # hidden: per relation, how many children point at this document
DELETING = "_deleting"  # hidden: a cascading delete of this document is under way


def _escape(name: str) -> str:
    return name.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def counter_key(child: str, field_name: str) -> str:
    """The key, under ``_refs``, of the counter of ``child`` documents whose ``field_name``
    points at a document."""
    return f"{_escape(child)}:{_escape(field_name)}"


@dataclass(frozen=True)
class Ref:
    """One enforced many-to-one relation: ``child.field`` holds the id of a ``target``."""

    child: str
    field: str
    target: str
    rule: OnDelete

    @property
    def key(self) -> str:
        return counter_key(self.child, self.field)

    @property
    def counter(self) -> str:
        return f"{REFS}.{self.key}"

    @property
    def label(self) -> str:
        return f"{self.child}.{self.field}"


Holds = Counter[tuple[Ref, Any]]  # (relation, target id) -> how many children


def _by_target(held: Holds) -> dict[str, list[tuple[tuple[Ref, Any], int]]]:
    """The holds grouped by target entity (one collection each), in order."""
    groups: dict[str, list[tuple[tuple[Ref, Any], int]]] = {}
    for key, count in held.items():
        groups.setdefault(key[0].target, []).append((key, count))
    return groups


def counted(document: Mapping[str, Any], ref: Ref) -> int:
    """How many children ``ref`` counts in ``document`` (0 without a counter)."""
    refs = document.get(REFS)
    value = refs.get(ref.key) if isinstance(refs, Mapping) else None
    return int(value) if isinstance(value, int | float) else 0


class MongoReferences(MongoBase[T]):
    # --- the relations this entity takes part in ---------------------------------------------

    @cached_property
    def _outgoing(self) -> tuple[Ref, ...]:
        """The references this entity holds (as a child)."""
        found: dict[str, Ref] = {}
        for rel in self.spec.references.values():
            assert rel.on_delete is not None
            found.setdefault(
                rel.local_field, Ref(self.spec.name, rel.local_field, rel.target, rel.on_delete)
            )
        return tuple(found.values())

    @cached_property
    def _incoming(self) -> tuple[Ref, ...]:
        """The references other entities (or this one) hold to this entity (as a target)."""
        found: dict[tuple[str, str], Ref] = {}
        for child, rel in referencing(self._backend.specs, self.spec.name):
            assert rel.on_delete is not None
            ref = Ref(child.name, rel.local_field, self.spec.name, rel.on_delete)
            found.setdefault((ref.child, ref.field), ref)
        return tuple(found.values())

    @property
    def _cascades(self) -> bool:
        return any(ref.rule is not OnDelete.RESTRICT for ref in self._incoming)

    # --- counters ----------------------------------------------------------------------------

    def _unreferenced(self, *, restrict_only: bool = False) -> Document:
        """Documents no child counts as pointing at (by every relation, or by restrict ones)."""
        return all_of(
            *(
                {ref.counter: {"$not": {"$gt": 0}}}
                for ref in self._incoming
                if not restrict_only or ref.rule is OnDelete.RESTRICT
            )
        )

    @property
    def _reference_projection(self) -> Document:
        return {"_id": True, **{ref.field: True for ref in self._outgoing}}

    def _holds(self, documents: Iterable[Mapping[str, Any]]) -> Holds:
        held: Holds = Counter()
        for document in documents:
            for ref in self._outgoing:
                value = document.get(ref.field)
                if value is not None:
                    held[(ref, value)] += 1
        return held

    def _moves(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Holds, Holds]:
        """What re-pointing a child from ``before`` to ``after`` takes and frees."""
        taken: Holds = Counter()
        freed: Holds = Counter()
        for ref in self._outgoing:
            old, new = before.get(ref.field), after.get(ref.field)
            if old == new:
                continue
            if new is not None:
                taken[(ref, new)] += 1
            if old is not None:
                freed[(ref, old)] += 1
        return taken, freed

    async def _hold(self, held: Holds, session: AsyncClientSession | None) -> None:
        """Count the children about to point at each target; ``ReferenceNotFound`` (and what
        was counted is given back) when a target is missing, expired or being deleted."""
        if session is not None and len(held) > 1:
            await self._hold_together(held, session)
            return
        taken: Holds = Counter()
        try:
            for (ref, value), count in held.items():
                target = self._backend.repo(ref.target)
                with self._errors():
                    result = await target.collection.update_one(
                        all_of({"_id": to_bson(value)}, target._holdable()),
                        {"$inc": {ref.counter: count}},
                        session=session,
                    )
                if not result.matched_count:
                    raise ReferenceNotFound(self.spec.name, ref.field, value, ref.target)
                taken[(ref, value)] = count
        except BaseException:
            await self._release(taken, session, compensating=True)
            raise

    def _holdable(self) -> Document:
        """Documents a new reference may point at: live and not being deleted."""
        return all_of(self._live(), {DELETING: {"$ne": True}})

    async def _hold_together(self, held: Holds, session: AsyncClientSession) -> None:
        """``_hold`` in a transaction: the counters of one target collection in one ``update``
        command. When fewer targets matched than were named, one read (in the same snapshot)
        says which; what was counted is given back before ``ReferenceNotFound``, so a unit of
        work that goes on keeps exact counters."""
        taken: Holds = Counter()
        try:
            for name, entries in _by_target(held).items():
                target = self._backend.repo(name)
                holdable = target._holdable()
                requests = [
                    UpdateOne(
                        all_of({"_id": to_bson(value)}, holdable), {"$inc": {ref.counter: count}}
                    )
                    for (ref, value), count in entries
                ]
                with self._errors():
                    result = await target.collection.bulk_write(requests, session=session)
                if result.matched_count == len(requests):
                    taken.update(dict(entries))
                    continue
                wanted = [to_bson(value) for (_, value), _ in entries]
                with self._errors():
                    found = await target.collection.distinct(
                        "_id", all_of({"_id": {"$in": wanted}}, holdable), session=session
                    )
                present = set(found)
                taken.update({key: count for key, count in entries if to_bson(key[1]) in present})
                ref, value = next(key for key, _ in entries if to_bson(key[1]) not in present)
                raise ReferenceNotFound(self.spec.name, ref.field, value, ref.target)
        except BaseException:
            await self._release(taken, session, compensating=True)
            raise

    async def _release(
        self, held: Holds, session: AsyncClientSession | None, *, compensating: bool = False
    ) -> None:
        """Lower the counters of targets children no longer point at. Outside a transaction a
        failure only leaves a counter too high (logged); inside one it fails the transaction,
        unless this undoes a write that failed anyway. In a transaction, one ``update`` command
        per target collection."""
        if session is not None and len(held) > 1:
            for name, entries in _by_target(held).items():
                requests = [
                    UpdateOne({"_id": to_bson(value)}, {"$inc": {ref.counter: -count}})
                    for (ref, value), count in entries
                ]
                try:
                    with self._errors():
                        await self._backend.repo(name).collection.bulk_write(
                            requests, session=session
                        )
                except KitError:
                    if not compensating:
                        raise
                    log.warning("mongo: could not release references to %s", name)
            return
        for (ref, value), count in held.items():
            target = self._backend.repo(ref.target)
            try:
                with self._errors():
                    await target.collection.update_one(
                        {"_id": to_bson(value)}, {"$inc": {ref.counter: -count}}, session=session
                    )
            except KitError:
                if session is not None and not compensating:
                    raise
                log.warning(
                    "mongo: could not release %s reference(s) to %s %r: its counter stays high",
                    count,
                    ref.target,
                    value,
                )

    async def recount_references(self) -> None:
        """Set every counter of this entity (as a target) to the number of children that point
        at each document. A repair, for documents written before references were enforced or
        a counter left too high by a crash without transactions: run it while nothing writes
        to the entity or its children."""
        for ref in self._incoming:
            child = self._backend.repo(ref.child)
            pipeline: list[Document] = [
                {"$match": {ref.field: {"$ne": None}}},
                {"$group": {"_id": f"${ref.field}", "count": {"$sum": 1}}},
            ]
            with self._errors():
                cursor = await child.collection.aggregate(pipeline)
                groups = await cursor.to_list()
                for group in groups:
                    await self.collection.update_one(
                        {"_id": group["_id"]}, {"$set": {ref.counter: group["count"]}}
                    )
                await self.collection.update_many(
                    {"_id": {"$nin": [g["_id"] for g in groups]}}, {"$set": {ref.counter: 0}}
                )

    # --- marks of a cascading delete ---------------------------------------------------------

    async def _mark(self, ids: list[Any], session: AsyncClientSession | None) -> None:
        """Mark documents as being deleted (new references to them fail), refusing with
        ``StillReferenced`` when a restrict relation still counts children of one of them."""
        if not self._incoming:
            return
        restrict = self._unreferenced(restrict_only=True)
        with self._errors():
            result = await self.collection.update_many(
                all_of({"_id": {"$in": ids}}, restrict), {"$set": {DELETING: True}}, session=session
            )
        if result.matched_count >= len(ids) or not restrict:
            return
        with self._errors():
            held = await self.collection.find_one(
                {"_id": {"$in": ids}, "$nor": [restrict]}, session=session
            )
        if held is not None:
            ref = next(
                (r for r in self._incoming if r.rule is OnDelete.RESTRICT and counted(held, r) > 0),
                None,
            )
            raise StillReferenced(self.spec.name, held["_id"], ref.label if ref else self.spec.name)

    async def _unmark(self, marked: list[tuple[MongoReferences[Any], list[Any]]]) -> None:
        for repo, ids in marked:
            try:
                with self._errors():
                    await repo.collection.update_many(
                        {"_id": {"$in": ids}, DELETING: True}, {"$unset": {DELETING: ""}}
                    )
            except KitError:
                log.warning("mongo: %s documents stay marked as being deleted", repo.spec.name)
