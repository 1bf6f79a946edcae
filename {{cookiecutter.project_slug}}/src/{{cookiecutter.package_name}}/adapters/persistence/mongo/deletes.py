"""The MongoDB repository's deletes: ``delete`` and ``delete_many``, and the ``on_delete`` rules
they apply to the children of what they delete (``restrict``, ``cascade``, ``set_null``; the
steps and why they come in that order are in :mod:`.repository`'s docstring).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ....ports.errors import StillReferenced
from ....ports.query import FilterInput
from ..registry import OnDelete
from .filters import Document, all_of
from .references import DELETING, MongoReferences, Ref, counted

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

T = TypeVar("T")

CASCADE_PATIENCE = 2.0  # seconds a cascading delete waits for children being written


class _Busy(Exception):
    """A document to delete is still counted as referenced after its children were handled:
    a child is being written without a transaction (between its two steps)."""

    def __init__(self, entity: str, key: Any, referenced_by: str) -> None:
        super().__init__(entity, key, referenced_by)
        self.entity, self.key, self.referenced_by = entity, key, referenced_by


@dataclass
class _Deletion:
    """What a (cascading) delete has done so far, across its attempts."""

    marked: list[tuple[MongoReferences[Any], list[Any]]] = field(default_factory=list)
    gone: set[Any] = field(default_factory=set)  # the requested documents deleted


@dataclass
class _Plan:
    batches: list[tuple[MongoDeletes[Any], list[Any]]] = field(default_factory=list)
    seen: dict[str, set[Any]] = field(default_factory=dict)
    nulls: list[tuple[Ref, list[Any]]] = field(default_factory=list)

    def take(self, repo: MongoDeletes[Any], ids: Iterable[Any]) -> list[Any]:
        seen = self.seen.setdefault(repo.spec.name, set())
        new = [key for key in dict.fromkeys(ids) if key not in seen]
        seen.update(new)
        return new


class MongoDeletes(MongoReferences[T]):
    async def delete(
        self,
        id: str,
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> None:
        where = self._where(conditions, self._guard(id, expected_version))

        async def why_not(session: AsyncClientSession | None) -> Exception:
            return await self._why_not_delete(
                id, where, expected_version, rejection_message, session
            )

        async with self._backend.session() as unit:
            if self._cascades:
                await self._delete_tree(where, unit, why_not=why_not)
                return

            async def work(session: AsyncClientSession | None) -> None:
                with self._errors():
                    document = await self.collection.find_one_and_delete(
                        all_of(where, self._unreferenced()),
                        projection=self._reference_projection,
                        session=session,
                    )
                if document is None:
                    raise await why_not(session)
                await self._release(self._holds([document]), session)

            await (self._atomically(unit, work) if self._outgoing else work(unit))

    async def _why_not_delete(
        self,
        key: str,
        where: Document,
        expected_version: int | None,
        rejection_message: str | None,
        session: AsyncClientSession | None,
    ) -> Exception:
        if self._incoming:
            with self._errors():
                held = await self.collection.find_one(where, session=session)
            if held is not None:
                ref = next((r for r in self._incoming if counted(held, r) > 0), None)
                if ref is not None:
                    return StillReferenced(self.spec.name, key, ref.label)
        return await self._why_not(key, expected_version, rejection_message, session)

    async def delete_many(self, ids: Sequence[str]) -> int:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return 0
        where = all_of({"_id": {"$in": wanted}}, self._live())
        async with self._backend.session() as unit:
            if not self._incoming and not self._outgoing:
                with self._errors():
                    result = await self.collection.delete_many(where, session=unit)
                return result.deleted_count
            return await self._delete_tree(where, unit, why_not=None)

    # --- the on_delete rules below what is deleted -------------------------------------------

    async def _delete_tree(
        self,
        where: Document,
        unit: AsyncClientSession | None,
        *,
        why_not: Callable[[AsyncClientSession | None], Awaitable[Exception]] | None,
    ) -> int:
        """Delete the documents ``where`` matches (one, refused with ``why_not()`` when it
        matches nothing; or a batch) and apply every ``on_delete`` rule below them; returns
        how many of them were deleted. Tried again for a while when children are still
        being written (see :mod:`.repository`)."""
        progress = _Deletion()
        standalone = unit is None and not await self._backend.supports_transactions()
        deadline = time.monotonic() + CASCADE_PATIENCE
        delay = 0.005
        try:
            while True:
                try:
                    await self._atomically(
                        unit, lambda s: self._delete_tree_once(where, s, progress, why_not)
                    )
                    return len(progress.gone)
                except _Busy as busy:
                    if unit is not None or time.monotonic() >= deadline:
                        raise StillReferenced(busy.entity, busy.key, busy.referenced_by) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)
        finally:
            if standalone:
                await self._unmark(progress.marked)

    async def _delete_tree_once(
        self,
        where: Document,
        session: AsyncClientSession | None,
        progress: _Deletion,
        why_not: Callable[[AsyncClientSession | None], Awaitable[Exception]] | None,
    ) -> None:
        if session is not None:
            progress.gone.clear()  # a transaction starts from nothing again
        plan = _Plan()
        if why_not is not None:
            with self._errors():
                if self._incoming:
                    found = await self.collection.find_one_and_update(
                        all_of(where, self._unreferenced(restrict_only=True)),
                        {"$set": {DELETING: True}},
                        projection={"_id": True},
                        session=session,
                    )
                else:
                    found = await self.collection.find_one(
                        where, projection={"_id": True}, session=session
                    )
            if found is None:
                raise await why_not(session)
            ids = [found["_id"]]
        else:
            with self._errors():
                documents = await self.collection.find(
                    where, projection={"_id": True}, session=session
                ).to_list()
            ids = [d["_id"] for d in documents]
            if not ids:
                return
            if self._incoming:
                progress.marked.append((self, ids))
            await self._mark(ids, session)
        if self._incoming and why_not is not None:
            progress.marked.append((self, ids))
        top = plan.take(self, ids)
        plan.batches.append((self, top))
        await self._plan_children(plan, self, top, session, progress)
        await self._apply_nulls(plan, session)
        for repo, batch in reversed(plan.batches):
            gone = await repo._delete_documents(batch, session)
            if repo is self and batch is top:
                progress.gone.update(gone)
            remaining = [key for key in batch if key not in gone]
            if remaining:
                await repo._raise_if_busy(remaining, session)

    async def _plan_children(
        self,
        plan: _Plan,
        parent: MongoDeletes[Any],
        ids: list[Any],
        session: AsyncClientSession | None,
        progress: _Deletion,
    ) -> None:
        for ref in parent._incoming:
            if ref.rule is OnDelete.RESTRICT:
                continue  # the parents' marks checked their counters
            if ref.rule is OnDelete.SET_NULL:
                plan.nulls.append((ref, ids))
                continue
            child = self._backend.repo(ref.child)
            with self._errors():
                documents = await child.collection.find(
                    {ref.field: {"$in": ids}}, projection={"_id": True}, session=session
                ).to_list()
            new = plan.take(child, (d["_id"] for d in documents))
            if not new:
                continue
            if child._incoming:
                progress.marked.append((child, new))
            await child._mark(new, session)
            plan.batches.append((child, new))
            await self._plan_children(plan, child, new, session, progress)

    async def _apply_nulls(self, plan: _Plan, session: AsyncClientSession | None) -> None:
        for ref, targets in plan.nulls:
            child = self._backend.repo(ref.child)
            target = self._backend.repo(ref.target)
            for key in targets:
                with self._errors():
                    result = await child.collection.update_many(
                        {ref.field: key}, {"$set": {ref.field: None}}, session=session
                    )
                    if result.modified_count:
                        await target.collection.update_one(
                            {"_id": key},
                            {"$inc": {ref.counter: -result.modified_count}},
                            session=session,
                        )

    async def _delete_documents(
        self, ids: list[Any], session: AsyncClientSession | None
    ) -> set[Any]:
        """Delete those of ``ids`` no child counts as pointing at, releasing their own
        references; returns the ids deleted."""
        unreferenced = self._unreferenced()
        if not self._outgoing:
            with self._errors():
                result = await self.collection.delete_many(
                    all_of({"_id": {"$in": ids}}, unreferenced), session=session
                )
                if result.deleted_count == len(ids):
                    return set(ids)
                left = await self.collection.find(
                    {"_id": {"$in": ids}}, projection={"_id": True}, session=session
                ).to_list()
            return set(ids) - {d["_id"] for d in left}
        deleted: list[Document] = []
        with self._errors():
            if session is not None:
                deleted = await self.collection.find(
                    all_of({"_id": {"$in": ids}}, unreferenced),
                    projection=self._reference_projection,
                    session=session,
                ).to_list()
                if deleted:
                    await self.collection.delete_many(
                        {"_id": {"$in": [d["_id"] for d in deleted]}}, session=session
                    )
            else:  # one by one: exactly what each delete removed is released
                for key in ids:
                    document = await self.collection.find_one_and_delete(
                        all_of({"_id": key}, unreferenced), projection=self._reference_projection
                    )
                    if document is not None:
                        deleted.append(document)
        await self._release(self._holds(deleted), session)
        return {d["_id"] for d in deleted}

    async def _raise_if_busy(self, ids: list[Any], session: AsyncClientSession | None) -> None:
        """Some documents were not deleted: if one still exists, a child is being written."""
        with self._errors():
            held = await self.collection.find_one({"_id": {"$in": ids}}, session=session)
        if held is not None:
            ref = next((r for r in self._incoming if counted(held, r) > 0), None)
            raise _Busy(self.spec.name, held["_id"], ref.label if ref else self.spec.name)
