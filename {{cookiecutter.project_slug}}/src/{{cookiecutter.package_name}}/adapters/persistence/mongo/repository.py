"""A repository over one MongoDB collection.

- The entity id is the document's ``_id``; values go through :mod:`.codec` both ways.
- **Every write goes through the domain**: ``add``, ``add_many``, ``upsert`` and ``update``
  store ``through_domain(entity)``; ``update_fields`` reads the document, builds the merged
  entity with ``apply_changes`` (validation and normalisation included) and writes the whole
  new record in one ``update_one`` guarded by the version it read (and by the reference fields
  it read, since ``set_null`` does not bump versions; an entity without a version field is
  guarded by every value it read). When someone else wrote in between and the caller gave no
  ``expected_version``, it reads again and retries (5 attempts). Writes ``$set`` the entity's
  fields (never replace the document), so the hidden fields below survive.
- Uniqueness (single fields and ``unique_together``) is the partial unique indexes' job: a
  duplicate is refused by the server and becomes ``AlreadyExists`` naming the constraint
  (``sku``, or ``member_id+task_id`` with the tuple of values), so concurrent creates cannot
  race.
- Expired documents (``ttl_field``) are filtered out of every read until MongoDB's TTL monitor
  removes them, and never block a new document with the same id or unique value. The monitor
  (and that clean-up) remove them without applying ``on_delete`` rules: an entity with a
  ``ttl_field`` should not be the target of an enforced relation.

Referential integrity (relations with ``on_delete``)
----------------------------------------------------

Each target document counts the children pointing at it, per relation, in a hidden field
``_refs.<child entity>:<field>`` (``<child entity>`` and ``<field>`` with ``%``, ``.`` and ``$``
percent-encoded). Entities never see it (the codec ignores unknown keys), filters, sorts and
``distinct`` only ever name entity fields, and writes ``$set`` fields so it is kept.

- Storing a child that points at a target (add, add_many, upsert, or an update that re-points
  it) first raises the target's counter with a conditional ``$inc`` that only matches a live
  target not being deleted: no match is ``ReferenceNotFound`` and nothing is written. The
  child is written next; the counter of the target it stopped pointing at is lowered last.
  Deleting a child lowers its targets' counters after the delete.
- ``restrict``: the target is deleted by one ``find_one_and_delete`` whose filter requires its
  counters to be zero or absent: ``StillReferenced`` otherwise, atomically with the delete.
- ``cascade`` / ``set_null``: the target is first *marked* (hidden ``_deleting: true``, in the
  same atomic write that checks its ``restrict`` counters), which makes every new reference to
  it fail; then its children are deleted (recursively, by their own rules, marked first) or
  their field is set to null (without a version bump, like PostgreSQL's ``ON DELETE SET
  NULL``), lowering its counters; then it is deleted with the counters-are-zero filter. Should
  a counter still be positive (a child written without a transaction, between its two
  steps), the whole delete is tried again for up to 2 seconds, then ``StillReferenced``.

With transactions (a replica set or a sharded cluster, or ``transactions=True``): every write
that changes a counter together with a document (a child's write and its ``$inc``, a child's
delete and its release, a whole cascading delete, ``add_many``) runs in one session
transaction, started again when a concurrent write conflicts with it; so counters are exact and
everything is all or nothing. Inside a unit of work (:meth:`MongoBackend.transaction`) the
unit's transaction is used instead, and ``StillReferenced`` is raised at once rather than
waiting.

Without transactions (a standalone server) the steps run one after the other, in the order
above, so that no concurrent interleaving can leave a child pointing at a deleted target. What
a crash (or a lost connection) between two steps leaves behind:

- between raising a target's counter and writing the child, or between deleting or
  re-pointing a child and lowering the counter: the counter is one too high. Never an orphan,
  but that target cannot be deleted (``StillReferenced``) until the counter is corrected:
  :meth:`MongoBackend.recount_references` recounts every counter (also the way to enforce
  references on documents written before they were declared);
- in the middle of a cascading delete: the target (and children not yet deleted) stay marked:
  they are still read and updated as usual, refuse new children, and the next delete of the
  target finishes the job. Children already deleted or set to null stay so. No child is ever
  left pointing at a deleted target;
- ``add_many`` inserts in order and deletes what it inserted when a document is refused; a
  crash in between leaves the first documents written (their counters raised).

Round trips (``r``: references that hold a value; ``m``: references a write moves to another
target; ``(+1)``: the commit, when the write runs in a transaction of its own)
------------------------------------------------------------------------------------------

- ``get``, ``get_many``, ``find``, ``count``, ``exists``, ``distinct``: 1.
- ``add``: 1 without references; ``r + 1`` (+1) with.
- ``add_many``: ``t + 1`` (+1 with transactions), ``t`` the distinct targets of the batch.
- ``update_fields``: 2 (read, guarded write); ``2 + 2m`` (+1) when references move. A retry
  after a concurrent write repeats them.
- ``update``: 1 for an entity without references (the version guard is in the filter); like
  ``update_fields`` otherwise.
- ``upsert``: 1 (2 with a ``ttl_field``); ``1 + r + r'`` (+1) with references, ``r'`` those
  of the document it replaced.
- ``delete``: 1; ``1 + r`` (+1) for a child; StillReferenced costs one more read.
- ``delete`` of a target with ``cascade``/``set_null`` relations: 1 to mark it, per cascading
  relation and level 1 to find the children (and 1 to mark them, if they are targets too), 2
  per ``set_null`` relation and target, then per batch deleted 1 or 2 (find, delete; without
  transactions, documents holding references are deleted one by one) plus its releases (+1);
  without transactions, 1 per marked batch to clear marks. ``test_mongo_specifics`` pins the
  usual counts.
- ``delete_many``: 1 for an entity without enforced relations; otherwise like a cascading
  delete of the whole batch.
- A refused write (missing, stale version, false condition) reads once more to say why.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property, cmp_to_key
from typing import TYPE_CHECKING, Any, TypeVar

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError

from ....ports.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    KitError,
    ReferenceNotFound,
    StillReferenced,
)
from ....ports.query import FilterInput, Page, PreparedQuery, Query, keyset_cursor, parse_sort
from ..codec import from_record, revive, to_record
from ..common import (
    DerivedReads,
    apply_changes,
    check_changes,
    diagnose_write,
    entity_id,
    new_entity,
    parse_conditions,
    prepare,
    referencing,
    through_domain,
    validate_field,
    version_of,
    with_version,
)
from ..evaluation import compare_values, get_path, matches
from ..registry import EntitySpec, OnDelete
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

log = logging.getLogger(__name__)

REFS = "_refs"  # hidden: per relation, how many children point at this document
DELETING = "_deleting"  # hidden: a cascading delete of this document is under way
UPDATE_ATTEMPTS = 5  # read-validate-write rounds when others keep writing in between
CASCADE_PATIENCE = 2.0  # seconds a cascading delete waits for children being written


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


class _Busy(Exception):
    """A document to delete is still counted as referenced after its children were handled:
    a child is being written without a transaction (between its two steps)."""

    def __init__(self, entity: str, key: Any, referenced_by: str) -> None:
        super().__init__(entity, key, referenced_by)
        self.entity, self.key, self.referenced_by = entity, key, referenced_by


class _Interfered(Exception):
    """A guarded write matched nothing: read again."""


@dataclass
class _Deletion:
    """What a (cascading) delete has done so far, across its attempts."""

    marked: list[tuple[MongoRepository[Any], list[Any]]] = field(default_factory=list)
    gone: set[Any] = field(default_factory=set)  # the requested documents deleted


@dataclass
class _Plan:
    batches: list[tuple[MongoRepository[Any], list[Any]]] = field(default_factory=list)
    seen: dict[str, set[Any]] = field(default_factory=dict)
    nulls: list[tuple[Ref, list[Any]]] = field(default_factory=list)

    def take(self, repo: MongoRepository[Any], ids: Iterable[Any]) -> list[Any]:
        seen = self.seen.setdefault(repo.spec.name, set())
        new = [key for key in dict.fromkeys(ids) if key not in seen]
        seen.update(new)
        return new


def _counter(document: Mapping[str, Any], ref: Ref) -> int:
    refs = document.get(REFS)
    value = refs.get(ref.key) if isinstance(refs, Mapping) else None
    return int(value) if isinstance(value, int | float) else 0


def _fields(document: Document) -> Document:
    return {k: v for k, v in document.items() if k != "_id"}


def _set_stage(fields: Mapping[str, Any]) -> list[Document]:
    """An update pipeline setting ``fields`` to these exact values (``$literal``: a value that
    looks like an operator or a field path is stored as it is)."""
    return [{"$set": {name: {"$literal": value} for name, value in fields.items()}}]


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

    # --- enforced relations ------------------------------------------------------------------

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
        taken: Holds = Counter()
        try:
            for (ref, value), count in held.items():
                target = self._backend.repo(ref.target)
                where = all_of({"_id": to_bson(value)}, target._live(), {DELETING: {"$ne": True}})
                with self._errors():
                    result = await target.collection.update_one(
                        where, {"$inc": {ref.counter: count}}, session=session
                    )
                if not result.matched_count:
                    raise ReferenceNotFound(self.spec.name, ref.field, value, ref.target)
                taken[(ref, value)] = count
        except BaseException:
            await self._release(taken, session, compensating=True)
            raise

    async def _release(
        self, held: Holds, session: AsyncClientSession | None, *, compensating: bool = False
    ) -> None:
        """Lower the counters of targets children no longer point at. Outside a transaction a
        failure only leaves a counter too high (logged); inside one it fails the transaction,
        unless this undoes a write that failed anyway."""
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

    # --- reads -------------------------------------------------------------------------------

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

    # --- expired documents in the way ----------------------------------------------------------

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

    # --- writes ------------------------------------------------------------------------------

    async def add(self, entity: T) -> T:
        document = self._document(to_record(new_entity(self.spec, entity)))
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
        documents = [self._document(to_record(new_entity(self.spec, e))) for e in entities]
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
        return await self._guarded_write(
            id,
            lambda current: apply_changes(self.spec, current, changes),
            expected_version,
            conditions,
            rejection_message,
        )

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

    # --- deletes -----------------------------------------------------------------------------

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
                ref = next((r for r in self._incoming if _counter(held, r) > 0), None)
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
        being written (see the module docstring)."""
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
                (
                    r
                    for r in self._incoming
                    if r.rule is OnDelete.RESTRICT and _counter(held, r) > 0
                ),
                None,
            )
            raise StillReferenced(self.spec.name, held["_id"], ref.label if ref else self.spec.name)

    async def _unmark(self, marked: list[tuple[MongoRepository[Any], list[Any]]]) -> None:
        for repo, ids in marked:
            try:
                with self._errors():
                    await repo.collection.update_many(
                        {"_id": {"$in": ids}, DELETING: True}, {"$unset": {DELETING: ""}}
                    )
            except KitError:
                log.warning("mongo: %s documents stay marked as being deleted", repo.spec.name)

    async def _plan_children(
        self,
        plan: _Plan,
        parent: MongoRepository[Any],
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
            ref = next((r for r in self._incoming if _counter(held, r) > 0), None)
            raise _Busy(self.spec.name, held["_id"], ref.label if ref else self.spec.name)
