"""A repository over one MongoDB collection.

- The entity id is the document's ``_id``; values go through :mod:`.codec` both ways.
- Uniqueness is the unique indexes' job (a duplicate insert or update is refused by the server
  and becomes ``AlreadyExists`` naming the field), so concurrent creates cannot race.
- Version checks and conditions are part of the filter of one ``replace_one`` /
  ``find_one_and_update`` / ``delete_one``; only when nothing matched is the document read
  again, to say why (missing, stale version, or false condition).
- Expired documents (``ttl_field``) are filtered out of every read until MongoDB's TTL monitor
  removes them, and never block a new document with the same id or unique value.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import cmp_to_key
from typing import TYPE_CHECKING, Any, TypeVar

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError

from ....ports.errors import AlreadyExists, InvalidInput
from ....ports.query import FilterInput, Page, PreparedQuery, Query, keyset_cursor, parse_sort
from ....ports.schema import Kind
from ..codec import from_record, revive, to_record
from ..common import (
    DerivedReads,
    diagnose_write,
    entity_id,
    parse_conditions,
    prepare,
    validate_field,
    version_of,
    with_version,
)
from ..evaluation import compare_values, get_path
from ..registry import EntitySpec
from .backend import TTL_SHADOW_FIELD, MongoBackend, ttl_uses_shadow
from .codec import from_bson, to_bson
from .errors import driver_errors
from .filters import (
    Document,
    all_of,
    compile_filter,
    compile_sort,
    field_path,
    keyset_after,
)

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession
    from pymongo.asynchronous.collection import AsyncCollection

T = TypeVar("T")
R = TypeVar("R")


class MongoRepository(DerivedReads[T]):
    def __init__(self, spec: EntitySpec[T], backend: MongoBackend) -> None:
        self.spec = spec
        self._backend = backend
        self._id = spec.id_field
        self._shadow_ttl = ttl_uses_shadow(spec)

    @property
    def entity_name(self) -> str:
        return self.spec.name

    @property
    def collection(self) -> AsyncCollection[Document]:
        return self._backend.collection(self.spec)

    def _errors(self) -> AbstractContextManager[None]:
        return driver_errors(self.spec.name, self._id)

    # --- documents ---------------------------------------------------------------------------

    def _document(self, record: Mapping[str, Any]) -> Document:
        document: Document = {"_id": record[self._id]}
        for name, value in record.items():
            if name != self._id:
                document[name] = to_bson(value)
        if self._shadow_ttl:
            document[TTL_SHADOW_FIELD] = self._expiry_date(record.get(str(self.spec.ttl_field)))
        return document

    @staticmethod
    def _expiry_date(value: Any) -> dt.datetime | None:
        if value is None or isinstance(value, bool):
            return None
        try:
            return dt.datetime.fromtimestamp(float(value), dt.UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            return None  # not a timestamp: reads still filter on the field itself

    def _record(self, document: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = from_bson(document)
        record[self._id] = record.pop("_id")
        return record

    def _entity(self, document: Mapping[str, Any]) -> T:
        return from_record(self.spec.entity, self._record(document))

    # --- filters -----------------------------------------------------------------------------

    def _live(self) -> Document:
        """Documents whose TTL has not passed (the TTL monitor lags by up to a minute)."""
        if self.spec.ttl_field is None:
            return {}
        now: Any = time.time()
        if not self._shadow_ttl:
            now = dt.datetime.now(dt.UTC)
        field = self.spec.ttl_field
        return {"$or": [{field: None}, {field: {"$gt": now}}]}

    def _expired(self) -> Document:
        return {"$nor": [self._live()]}

    def _where(self, filter: FilterInput | None, *extra: Document) -> Document:
        tree = parse_conditions(self.spec, filter)
        return all_of(compile_filter(tree, self.spec.schema, self._id), self._live(), *extra)

    # --- reads -------------------------------------------------------------------------------

    async def get(self, id: str) -> T | None:
        with self._errors():
            document = await self.collection.find_one(all_of({"_id": id}, self._live()))
        return None if document is None else self._entity(document)

    async def get_many(self, ids: Sequence[str]) -> list[T]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        with self._errors():
            documents = await self.collection.find(
                all_of({"_id": {"$in": wanted}}, self._live())
            ).to_list()
        by_id = {d["_id"]: d for d in documents}
        return [self._entity(by_id[key]) for key in wanted if key in by_id]

    async def get_by(self, field: str, value: Any) -> T | None:
        return await self.find_one({field: {"eq": value}})

    async def find(self, query: Query | None = None) -> Page[T]:
        prepared = prepare(self.spec, query)
        if prepared.limit == 0:
            return Page([])
        where = all_of(
            compile_filter(prepared.filter, self.spec.schema, self._id),
            self._live(),
            keyset_after(prepared.sort, prepared.after, self._id)
            if prepared.after is not None
            else {},
        )
        with self._errors():
            documents = await self.collection.find(
                where,
                sort=compile_sort(prepared.sort, self._id),
                skip=prepared.offset,
                limit=0 if prepared.limit is None else prepared.limit + 1,
            ).to_list()
        return self._page(documents, prepared)

    def _page(self, documents: list[Document], prepared: PreparedQuery) -> Page[T]:
        limit = prepared.limit
        has_more = limit is not None and len(documents) > limit
        rows = documents[:limit] if limit is not None else documents
        items = [self._entity(d) for d in rows]
        if not has_more or not rows:
            return Page(items)
        last = self._record(rows[-1])
        values = []
        for item in prepared.sort:
            info = self.spec.schema.resolve(item.field)
            raw = get_path(last, item.field)
            values.append(revive(info, raw) if info is not None else raw)
        cursor = keyset_cursor(prepared.sort, values)
        return Page(items, cursor, prepared.offset + len(rows))

    async def count(self, filter: FilterInput | None = None) -> int:
        where = self._where(filter)
        with self._errors():
            return await self.collection.count_documents(where)

    async def exists(self, filter: FilterInput | None = None) -> bool:
        where = self._where(filter)
        with self._errors():
            found = await self.collection.find_one(where, projection={"_id": True})
        return found is not None

    async def distinct(self, field: str, filter: FilterInput | None = None) -> list[Any]:
        validate_field(self.spec, field)
        parse_sort(field, self.spec.schema)  # distinct values must be orderable scalars
        info = self.spec.schema.resolve(field)
        assert info is not None
        where = self._where(filter)
        with self._errors():
            raw = await self.collection.distinct(field_path(field, self._id), where)
        values = {revive(info, from_bson(v)) for v in raw if v is not None}
        return sorted(values, key=cmp_to_key(compare_values))

    # --- writes ------------------------------------------------------------------------------

    async def _retrying_expired(self, write: Callable[[], Awaitable[R]]) -> R:
        """Run ``write`` (translating driver errors); if an *expired* document still holds the
        id or a unique value it needs, remove that document (the TTL monitor had not yet) and
        write once more."""
        try:
            with self._errors():
                return await write()
        except AlreadyExists as exc:
            if self.spec.ttl_field is None:
                raise
            where = all_of({field_path(exc.field, self._id): to_bson(exc.value)}, self._expired())
            with self._errors():
                removed = await self.collection.delete_many(where)
            if not removed.deleted_count:
                raise
        with self._errors():
            return await write()

    def _new_document(self, entity: T) -> Document:
        entity_id(self.spec, entity)
        return self._document(to_record(with_version(self.spec, entity, 1)))

    async def add(self, entity: T) -> T:
        document = self._new_document(entity)

        async def insert() -> None:
            await self.collection.insert_one(dict(document))

        await self._retrying_expired(insert)
        return self._entity(document)

    async def add_many(self, entities: Sequence[T]) -> list[T]:
        """All or nothing. In a transaction when the server supports them (replica set,
        sharded cluster); on a standalone server, an ordered ``insert_many`` whose inserted
        documents are deleted again if a later one is refused (other readers may glimpse the
        batch meanwhile, and a crash between the two leaves it half-written)."""
        documents = [self._new_document(e) for e in entities]
        if not documents:
            return []
        if await self._backend.supports_transactions():
            await self._retrying_expired(lambda: self._insert_in_transaction(documents))
        else:
            await self._retrying_expired(lambda: self._insert_or_compensate(documents))
        return [self._entity(d) for d in documents]

    async def _insert_in_transaction(self, documents: list[Document]) -> None:
        async def insert(session: AsyncClientSession) -> None:
            await self.collection.insert_many(
                [dict(d) for d in documents], ordered=True, session=session
            )

        async with self._backend.client.start_session() as session:
            await session.with_transaction(insert)

    async def _insert_or_compensate(self, documents: list[Document]) -> None:
        try:
            await self.collection.insert_many([dict(d) for d in documents], ordered=True)
        except BulkWriteError as exc:
            # Ordered: exactly the documents before the first refused one went in.
            inserted = [d["_id"] for d in documents[: int(exc.details.get("nInserted", 0))]]
            if inserted:
                await self.collection.delete_many({"_id": {"$in": inserted}})
            raise

    async def update(
        self,
        entity: T,
        *,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        key = entity_id(self.spec, entity)
        expected = version_of(self.spec, entity)
        where = self._where(conditions, self._guard(key, expected))
        record = to_record(entity)
        if self.spec.version_field is not None and expected is not None:
            record[self.spec.version_field] = expected + 1
        document = self._document(record)
        result = await self._retrying_expired(lambda: self.collection.replace_one(where, document))
        if not result.matched_count:
            raise await self._why_not(key, expected, rejection_message)
        return self._entity(document)

    def _guard(self, key: str, expected_version: int | None) -> Document:
        guard: Document = {"_id": key}
        if expected_version is not None and self.spec.version_field is not None:
            guard[self.spec.version_field] = expected_version
        return guard

    async def _why_not(
        self, key: str, expected_version: int | None, rejection_message: str | None
    ) -> Exception:
        with self._errors():
            stored = await self.collection.find_one(all_of({"_id": key}, self._live()))
        return diagnose_write(self.spec, key, stored, expected_version, rejection_message)

    def _changes(self, changes: Mapping[str, Any]) -> Document:
        fields = self.spec.schema.fields
        result: Document = {}
        for name, value in changes.items():
            info = fields.get(name)
            if info is None:
                raise InvalidInput(f"{self.spec.name} has no field {name!r}")
            if name in (self._id, self.spec.version_field):
                raise InvalidInput(f"{self.spec.name}.{name} cannot be changed")
            collection = isinstance(value, list | tuple | set | frozenset)
            if info.kind in (Kind.LIST, Kind.SET) and value is not None and not collection:
                raise InvalidInput(f"{self.spec.name}.{name} takes a list of values")
            try:
                typed = value if info.kind in (Kind.DICT, Kind.ANY) else revive(info, value)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from exc
            result[name] = to_bson(typed)
            if self._shadow_ttl and name == self.spec.ttl_field:
                result[TTL_SHADOW_FIELD] = self._expiry_date(value)
        return result

    async def update_fields(
        self,
        id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        to_set = self._changes(changes)
        where = self._where(conditions, self._guard(id, expected_version))
        update: Document = {}
        if to_set:
            update["$set"] = to_set
        if self.spec.version_field is not None:
            update["$inc"] = {self.spec.version_field: 1}
        if update:
            document = await self._retrying_expired(
                lambda: self.collection.find_one_and_update(
                    where, update, return_document=ReturnDocument.AFTER
                )
            )
        else:
            with self._errors():
                document = await self.collection.find_one(where)
        if document is None:
            raise await self._why_not(id, expected_version, rejection_message)
        return self._entity(document)

    async def upsert(self, entity: T) -> T:
        """Insert or replace in one ``find_one_and_update(upsert=True)`` whose pipeline sets the
        version to the stored one plus one (1 for a new document)."""
        key = entity_id(self.spec, entity)
        document = self._document(to_record(entity))
        version_field = self.spec.version_field
        if self.spec.ttl_field is not None:
            with self._errors():  # an expired document counts as absent
                await self.collection.delete_one(all_of({"_id": key}, self._expired()))
        if version_field is None:

            async def write() -> Document | None:
                await self.collection.replace_one({"_id": key}, document, upsert=True)
                return document

        else:
            document.pop(version_field, None)
            bumped = {"$add": [{"$ifNull": [f"${version_field}", 0]}, 1]}
            pipeline = [
                {
                    "$replaceWith": {
                        "$mergeObjects": [{"$literal": document}, {version_field: bumped}]
                    }
                }
            ]

            async def write() -> Document | None:
                return await self.collection.find_one_and_update(
                    {"_id": key}, pipeline, upsert=True, return_document=ReturnDocument.AFTER
                )

        async def write_once_more_on_id_race() -> Document | None:
            try:
                with self._errors():
                    return await write()
            except AlreadyExists as exc:
                if exc.field != self._id:
                    raise
            with self._errors():  # two upserts inserted the same new id at once: replace
                return await write()

        stored = await self._retrying_expired(write_once_more_on_id_race)
        return self._entity(stored if stored is not None else document)

    async def delete(
        self,
        id: str,
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> None:
        where = self._where(conditions, self._guard(id, expected_version))
        with self._errors():
            result = await self.collection.delete_one(where)
        if not result.deleted_count:
            raise await self._why_not(id, expected_version, rejection_message)

    async def delete_many(self, ids: Sequence[str]) -> int:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return 0
        with self._errors():
            result = await self.collection.delete_many(
                all_of({"_id": {"$in": wanted}}, self._live())
            )
        return result.deleted_count
