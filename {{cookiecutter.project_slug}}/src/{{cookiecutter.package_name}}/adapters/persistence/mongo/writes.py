"""The MongoDB repository's writes: ``add``, ``add_many``, ``update``, ``update_fields`` and
``upsert``. Each stores what the domain built, ``$set``s fields (the hidden counters and marks
survive) and raises the counters of the targets it points at first (:mod:`.references`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError

from ....ports.errors import AlreadyExists, ConcurrencyConflict
from ....ports.query import FilterInput
from ..codec import to_record
from ..common import (
    GuardedFieldUpdates,
    diagnose_write,
    entity_id,
    new_record,
    parse_conditions,
    through_domain,
    version_of,
    with_version,
)
from ..evaluation import matches
from .filters import Document, all_of
from .references import MongoReferences

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

T = TypeVar("T")

UPDATE_ATTEMPTS = 5  # read-validate-write rounds when others keep writing in between


class _Interfered(Exception):
    """A guarded write matched nothing: read again."""


def _fields(document: Document) -> Document:
    return {k: v for k, v in document.items() if k != "_id"}


def _set_stage(fields: Mapping[str, Any]) -> list[Document]:
    """An update pipeline setting ``fields`` to these exact values (``$literal``: a value that
    looks like an operator or a field path is stored as it is)."""
    return [{"$set": {name: {"$literal": value} for name, value in fields.items()}}]


class MongoWrites(GuardedFieldUpdates[T], MongoReferences[T]):
    # --- inserts -----------------------------------------------------------------------------

    async def add(self, entity: T) -> T:
        document = self._document(new_record(self.spec, entity)[2])
        held = self._holds([document])

        async def work(session: AsyncClientSession | None) -> None:
            await self._hold(held, session)
            try:
                await self._write(
                    [document],
                    lambda: self.collection.insert_one(dict(document), session=session),
                    session,
                )
            except BaseException:
                await self._release(held, session, compensating=True)
                raise

        async with self._backend.session() as unit:
            if held:
                await self._atomically(unit, work)
            else:
                await work(unit)
        return self._entity(document)

    async def add_many(self, entities: Sequence[T]) -> list[T]:
        """All or nothing: in a transaction when the server supports them (replica set,
        sharded cluster); on a standalone server, an ordered ``insert_many`` whose inserted
        documents are deleted again if a later one is refused (other readers may glimpse the
        batch meanwhile, and a crash between the two leaves it half-written)."""
        documents = [self._document(new_record(self.spec, e)[2]) for e in entities]
        if not documents:
            return []
        held = self._holds(documents)

        async def work(session: AsyncClientSession | None) -> None:
            await self._hold(held, session)
            try:
                await self._write(documents, lambda: self._insert_many(documents, session), session)
            except BaseException:
                await self._release(held, session, compensating=True)
                raise

        async with self._backend.session() as unit:
            await self._atomically(unit, work)
        return [self._entity(d) for d in documents]

    async def _insert_many(
        self, documents: list[Document], session: AsyncClientSession | None
    ) -> None:
        if session is not None:
            await self.collection.insert_many(
                [dict(d) for d in documents], ordered=True, session=session
            )
            return
        try:
            await self.collection.insert_many([dict(d) for d in documents], ordered=True)
        except BulkWriteError as exc:
            # Ordered: exactly the documents before the first refused one went in.
            inserted = [d["_id"] for d in documents[: int(exc.details.get("nInserted", 0))]]
            if inserted:
                await self.collection.delete_many({"_id": {"$in": inserted}})
            raise

    # --- updates: read, check, write guarded by what was read --------------------------------

    async def update(
        self,
        entity: T,
        *,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        key = entity_id(self.spec, entity)
        validated = through_domain(self.spec, entity)
        expected = version_of(self.spec, entity)
        if self._outgoing:
            return await self._guarded_write(
                key, lambda _current: validated, expected, conditions, rejection_message
            )
        where = self._where(conditions, self._guard(key, expected))
        if expected is not None:
            validated = with_version(self.spec, validated, expected + 1)
        document = self._document(to_record(validated))
        async with self._backend.session() as session:
            result = await self._write(
                [document],
                lambda: self.collection.update_one(
                    where, _set_stage(_fields(document)), session=session
                ),
                session,
            )
            if not result.matched_count:
                raise await self._why_not(key, expected, rejection_message, session)
        return self._entity(document)

    async def _guarded_write(
        self,
        key: str,
        change: Callable[[T], T],
        expected_version: int | None,
        conditions: FilterInput | None,
        rejection_message: str | None,
    ) -> T:
        """Read, check (version, conditions), build the new entity through the domain, write
        it guarded by what was read; read again and retry when someone wrote in between."""
        tree = parse_conditions(self.spec, conditions)
        version_field = self.spec.version_field
        async with self._backend.session() as unit:
            for _ in range(UPDATE_ATTEMPTS):
                with self._errors():
                    before = await self.collection.find_one(
                        all_of({"_id": key}, self._live()), session=unit
                    )
                current = None if before is None else self._entity(before)
                if (
                    before is None
                    or current is None
                    or (
                        expected_version is not None
                        and version_field is not None
                        and before.get(version_field) != expected_version
                    )
                    or not matches(to_record(current), tree)
                ):
                    raise diagnose_write(
                        self.spec, key, before, expected_version, rejection_message
                    )
                updated = change(current)
                if version_field is not None:
                    version = int(before.get(version_field) or 0) + 1
                    updated = with_version(self.spec, updated, version)
                document = self._document(to_record(updated))
                try:
                    await self._write_over(before, document, unit)
                except _Interfered:
                    continue
                return self._entity(document)
        raise ConcurrencyConflict(self.spec.name, key, expected_version)

    def _unchanged(self, before: Mapping[str, Any]) -> Document:
        """The document exactly as read, as far as a write built from it depends on it: its
        version and references, or (without a version field) every value."""
        guard: Document = {"_id": before["_id"]}
        version_field = self.spec.version_field
        if version_field is not None:
            guard[version_field] = {"$eq": before.get(version_field)}
            names = [ref.field for ref in self._outgoing]
        else:
            names = [name for name in self.spec.schema.fields if name != self._id]
        for name in names:
            guard[name] = {"$eq": before.get(name)}
        return guard

    async def _write_over(
        self, before: Document, document: Document, unit: AsyncClientSession | None
    ) -> None:
        taken, freed = self._moves(before, document)
        guard = self._unchanged(before)

        async def work(session: AsyncClientSession | None) -> None:
            await self._hold(taken, session)
            try:
                result = await self._write(
                    [document],
                    lambda: self.collection.update_one(
                        guard, _set_stage(_fields(document)), session=session
                    ),
                    session,
                )
            except BaseException:
                await self._release(taken, session, compensating=True)
                raise
            if not result.matched_count:
                await self._release(taken, session, compensating=True)
                raise _Interfered
            await self._release(freed, session)

        if taken or freed:
            await self._atomically(unit, work)
        else:
            await work(unit)

    # --- upsert ------------------------------------------------------------------------------

    async def upsert(self, entity: T) -> T:
        """Insert or replace in one ``find_one_and_update(upsert=True)`` whose pipeline sets
        every field and the version to the stored one plus one (1 for a new document)."""
        key = entity_id(self.spec, entity)
        validated = through_domain(self.spec, entity)
        document = self._document(to_record(validated))
        version_field = self.spec.version_field
        fields = _fields(document)
        stage = _set_stage(fields)
        if version_field is not None:
            bumped = {"$add": [{"$ifNull": [f"${version_field}", 0]}, 1]}
            stage[0]["$set"][version_field] = bumped
        projection = {"_id": True, **({version_field: True} if version_field else {})}
        projection.update({ref.field: True for ref in self._outgoing})
        held = self._holds([document])

        async def write(session: AsyncClientSession | None) -> Document | None:
            async def once() -> Document | None:
                return await self.collection.find_one_and_update(
                    {"_id": key},
                    stage,
                    upsert=True,
                    projection=projection,
                    return_document=ReturnDocument.BEFORE,
                    session=session,
                )

            try:
                return await self._write([document], once, session)
            except AlreadyExists as exc:
                if exc.field != self._id or session is not None:
                    raise
            with self._errors():  # two upserts inserted the same new id at once: replace
                return await once()

        async def work(session: AsyncClientSession | None) -> Document | None:
            await self._hold(held, session)
            try:
                before = await write(session)
            except BaseException:
                await self._release(held, session, compensating=True)
                raise
            await self._release(self._holds([before] if before is not None else []), session)
            return before

        async with self._backend.session() as unit:
            if self.spec.ttl_field is not None and unit is None:
                with self._errors():  # an expired document counts as absent
                    await self.collection.delete_one(all_of({"_id": key}, self._expired()))
            before = await (self._atomically(unit, work) if held else work(unit))
        if version_field is not None:
            previous = None if before is None else before.get(version_field)
            document[version_field] = int(previous or 0) + 1
        return self._entity(document)
