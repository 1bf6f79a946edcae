"""What the MongoDB repository's reads and writes share: the collection, entities to documents
and back, the filter that hides expired documents (``ttl_field``) and the clean-up of those in a
write's way, the guard of a write and why it was refused, and running a write in a transaction.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from ....ports.errors import AlreadyExists
from ....ports.query import FilterInput
from ..codec import from_record
from ..common import DerivedReads, diagnose_write, parse_conditions
from ..registry import EntitySpec
from .backend import TTL_SHADOW_FIELD, MongoBackend, ttl_uses_shadow
from .codec import from_bson, to_bson
from .errors import driver_errors
from .filters import Document, all_of, compile_filter

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession
    from pymongo.asynchronous.collection import AsyncCollection

T = TypeVar("T")
R = TypeVar("R")


class MongoBase(DerivedReads[T]):
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

    # --- transactions ------------------------------------------------------------------------

    async def _atomically(
        self,
        unit: AsyncClientSession | None,
        work: Callable[[AsyncClientSession | None], Awaitable[R]],
    ) -> R:
        """``work`` in the unit's transaction, else in one of its own when the server has
        them, else step by step (``work(None)``)."""
        if unit is not None:
            return await work(unit)
        if await self._backend.supports_transactions():
            return await self._backend.run_in_transaction(work)
        return await work(None)

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
        field_name = self.spec.ttl_field
        return {"$or": [{field_name: None}, {field_name: {"$gt": now}}]}

    def _expired(self) -> Document:
        return {"$nor": [self._live()]}

    def _where(self, filter: FilterInput | None, *extra: Document) -> Document:
        tree = parse_conditions(self.spec, filter)
        return all_of(compile_filter(tree, self.spec.schema, self._id), self._live(), *extra)

    # --- guards of a write, and why one was refused ------------------------------------------

    def _guard(self, key: str, expected_version: int | None) -> Document:
        guard: Document = {"_id": key}
        if expected_version is not None and self.spec.version_field is not None:
            guard[self.spec.version_field] = expected_version
        return guard

    async def _why_not(
        self,
        key: str,
        expected_version: int | None,
        rejection_message: str | None,
        session: AsyncClientSession | None,
    ) -> Exception:
        with self._errors():
            stored = await self.collection.find_one(
                all_of({"_id": key}, self._live()), session=session
            )
        return diagnose_write(self.spec, key, stored, expected_version, rejection_message)

    # --- expired documents in the way --------------------------------------------------------

    async def _clear_expired(
        self, documents: Sequence[Document], session: AsyncClientSession | None
    ) -> bool:
        """Delete expired documents holding an id or a unique value of ``documents``."""
        holders: list[Document] = [{"_id": {"$in": [d["_id"] for d in documents]}}]
        for fields in self.spec.unique_keys:
            for document in documents:
                values = [document.get(name) for name in fields]
                if all(v is not None for v in values):
                    holders.append(dict(zip(fields, values, strict=True)))
        with self._errors():
            removed = await self.collection.delete_many(
                all_of({"$or": holders}, self._expired()), session=session
            )
        return bool(removed.deleted_count)

    async def _write(
        self,
        documents: Sequence[Document],
        write: Callable[[], Awaitable[R]],
        session: AsyncClientSession | None,
    ) -> R:
        """Run ``write`` (translating driver errors) so that *expired* documents holding an id
        or unique value it needs never refuse it (the TTL monitor had not removed them yet):
        in a transaction they are removed first; otherwise only when the write is refused,
        then it is tried once more."""
        if self.spec.ttl_field is not None and session is not None:
            await self._clear_expired(documents, session)
        try:
            with self._errors():
                return await write()
        except AlreadyExists:
            if self.spec.ttl_field is None or session is not None:
                raise
            if not await self._clear_expired(documents, None):
                raise
        with self._errors():
            return await write()
