"""The MongoDB repository's reads: ``get``, ``get_many``, ``get_by``, ``find`` (keyset pages),
``count``, ``exists`` and ``distinct``; one round trip each, expired documents filtered out.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cmp_to_key
from typing import Any, TypeVar

from pymongo import ASCENDING

from ....ports.query import (
    And,
    Condition,
    Filter,
    FilterInput,
    Op,
    Page,
    PreparedQuery,
    Query,
    keyset_cursor,
    parse_sort,
)
from ..codec import revive
from ..common import parse_conditions, prepare, validate_field
from ..evaluation import compare_values, get_path
from .base import MongoBase
from .codec import from_bson
from .filters import Document, all_of, compile_filter, compile_sort, field_path, keyset_after

T = TypeVar("T")


class MongoReads(MongoBase[T]):
    async def get(self, id: str) -> T | None:
        async with self._backend.session() as session:
            with self._errors():
                document = await self.collection.find_one(
                    all_of({"_id": id}, self._live()), session=session
                )
        return None if document is None else self._entity(document)

    async def get_many(self, ids: Sequence[str]) -> list[T]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        async with self._backend.session() as session:
            with self._errors():
                documents = await self.collection.find(
                    all_of({"_id": {"$in": wanted}}, self._live()), session=session
                ).to_list()
        by_id = {d["_id"]: d for d in documents}
        return [self._entity(by_id[key]) for key in wanted if key in by_id]

    async def get_by(self, field: str, value: Any) -> T | None:
        return await self.find_one({field: {"eq": value}})

    async def find_one(self, filter: FilterInput) -> T | None:
        """``find`` with ``limit=1`` as one ``find_one``: nothing to page (no cursor, no
        look-ahead row), and no sort when the filter pins a unique field (one match at most)."""
        tree = parse_conditions(self.spec, filter)
        where = all_of(compile_filter(tree, self.spec.schema, self._id), self._live())
        sort = None if self._pins_unique(tree) else [("_id", ASCENDING)]
        async with self._backend.session() as session:
            with self._errors():
                document = await self.collection.find_one(where, sort=sort, session=session)
        return None if document is None else self._entity(document)

    def _pins_unique(self, tree: Filter | None) -> bool:
        """Whether ``tree`` requires a single-field unique key (or the id) to equal a value."""
        conditions = tree.items if isinstance(tree, And) else (tree,)
        return any(
            isinstance(c, Condition)
            and c.op is Op.EQ
            and c.value is not None
            and (c.field == self._id or (c.field,) in self.spec.unique_keys)
            for c in conditions
        )

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
        async with self._backend.session() as session:
            with self._errors():
                documents = await self.collection.find(
                    where,
                    sort=compile_sort(prepared.sort, self._id),
                    skip=prepared.offset,
                    limit=0 if prepared.limit is None else prepared.limit + 1,
                    session=session,
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
        cursor = keyset_cursor(prepared, values)
        return Page(items, cursor, prepared.offset + len(rows))

    async def count(self, filter: FilterInput | None = None) -> int:
        where = self._where(filter)
        async with self._backend.session() as session:
            with self._errors():
                return await self.collection.count_documents(where, session=session)

    async def exists(self, filter: FilterInput | None = None) -> bool:
        where = self._where(filter)
        async with self._backend.session() as session:
            with self._errors():
                found = await self.collection.find_one(
                    where, projection={"_id": True}, session=session
                )
        return found is not None

    async def distinct(self, field: str, filter: FilterInput | None = None) -> list[Any]:
        validate_field(self.spec, field)
        parse_sort(field, self.spec.schema)  # distinct values must be orderable scalars
        info = self.spec.schema.resolve(field)
        assert info is not None
        where = self._where(filter)
        async with self._backend.session() as session:
            with self._errors():
                raw = await self.collection.distinct(
                    field_path(field, self._id), where, session=session
                )
        values = {revive(info, from_bson(v)) for v in raw if v is not None}
        return sorted(values, key=cmp_to_key(compare_values))
