"""The MongoDB backend: one ``AsyncMongoClient`` (PyMongo's native asyncio API, not Motor) for
the life of the process, and the indexes every entity declares.

Indexes created by :meth:`MongoBackend.start` when ``create_schema`` is set (each call is
idempotent: MongoDB ignores an identical index that already exists):

- ``unique_<field>`` for every unique field: a *partial* unique index that only covers
  documents where the field holds a value (``$type``), so any number of nulls coexist;
- ``unique_<a>+<b>`` for every compound constraint (``unique_together``): a partial compound
  unique index over the documents where *every* part holds a value, so a null part never
  collides (as in SQL);
- ``index_<field>`` for every declared index, and for every enforced reference field (the
  ``on_delete`` rules look children up by it);
- ``ttl_<field>`` for the entity's ``ttl_field`` with ``expireAfterSeconds=0``. MongoDB's TTL
  monitor only understands BSON dates, so an epoch-seconds field is mirrored into a hidden
  date field (:data:`TTL_SHADOW_FIELD`) on every write and the TTL index sits on the mirror.
  The monitor runs about once a minute, so reads also filter expired documents out.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.errors import PyMongoError

from ....ports.errors import BackendUnavailable, TransactionsUnsupported
from ....ports.repository import Repository
from ....ports.schema import Kind
from ..registry import EntitySpec
from .errors import BACKEND, TransientConflict, driver_errors, unique_index_name

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession
    from pymongo.asynchronous.collection import AsyncCollection
    from pymongo.asynchronous.database import AsyncDatabase

    from .repository import MongoRepository

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# The adapter's own transactions (add_many, cascading deletes) start again from the beginning
# when a concurrent write conflicts with them, at most this many times, backing off.
TRANSACTION_ATTEMPTS = 30

Document = dict[str, Any]

TTL_SHADOW_FIELD = "_ttl_expires_at"

# BSON types that hold a value: a partial index over these skips null and missing.
_VALUE_TYPES: dict[Kind, str | list[str]] = {
    Kind.STR: "string",
    Kind.ENUM: ["string", "int", "long", "double"],
    Kind.INT: ["int", "long"],
    Kind.FLOAT: ["double", "int", "long"],
    Kind.DECIMAL: "decimal",
    Kind.BOOL: "bool",
    Kind.DATETIME: "date",
    Kind.DATE: "date",
    Kind.UUID: "binData",
}
_ANY_VALUE = [
    "double",
    "string",
    "object",
    "array",
    "binData",
    "objectId",
    "bool",
    "date",
    "int",
    "timestamp",
    "long",
    "decimal",
]


def ttl_uses_shadow(spec: EntitySpec[Any]) -> bool:
    """True when the TTL field is not a datetime and needs its date mirror."""
    if spec.ttl_field is None:
        return False
    info = spec.schema.resolve(spec.ttl_field)
    return info is None or info.kind not in (Kind.DATETIME, Kind.DATE)


def _value_types(spec: EntitySpec[Any], name: str) -> str | list[str]:
    info = spec.schema.resolve(name)
    return _VALUE_TYPES.get(info.kind, _ANY_VALUE) if info is not None else _ANY_VALUE


def index_models(spec: EntitySpec[Any]) -> list[dict[str, Any]]:
    """The indexes an entity needs, as ``create_index`` keyword arguments."""
    indexes: list[dict[str, Any]] = []
    for fields in spec.unique_keys:
        indexes.append(
            {
                "keys": [(name, ASCENDING) for name in fields],
                "name": unique_index_name(fields),
                "unique": True,
                # Only documents where every part holds a value: nulls never collide.
                "partialFilterExpression": {
                    name: {"$type": _value_types(spec, name)} for name in fields
                },
            }
        )
    references = [rel.local_field for rel in spec.references.values()]
    for name in dict.fromkeys((*spec.indexes, *references)):
        if name in spec.unique or name == spec.id_field:
            continue
        indexes.append({"keys": [(name, ASCENDING)], "name": f"index_{name}"})
    if spec.ttl_field is not None:
        target = TTL_SHADOW_FIELD if ttl_uses_shadow(spec) else spec.ttl_field
        indexes.append(
            {
                "keys": [(target, ASCENDING)],
                "name": f"ttl_{spec.ttl_field}",
                "expireAfterSeconds": 0,
            }
        )
    return indexes


@dataclass
class Unit:
    """A unit of work in progress: its session, used by one operation at a time (a PyMongo
    session is not safe to share between concurrent tasks)."""

    session: AsyncClientSession
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class MongoBackend:
    """MongoDB through PyMongo's ``AsyncMongoClient``.

    ``transactions``: ``None`` (default) asks the server once (a replica set or ``mongos``
    supports them, a standalone does not); ``True``/``False`` forces the choice. It decides
    whether units of work are possible (:meth:`transaction`) and how ``add_many`` and
    cascading deletes stay all-or-nothing (see :mod:`.repository`).
    ``timeout_ms`` bounds server selection, connecting and every operation end to end
    (PyMongo's ``timeoutMS``); past it the call raises ``BackendUnavailable``.
    ``client_options`` go to ``AsyncMongoClient`` as they are (TLS, pool size, event
    listeners...) and win over the defaults.
    """

    name = BACKEND

    def __init__(
        self,
        dsn: str,
        database: str,
        *,
        timeout_ms: int = 5_000,
        transactions: bool | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._dsn = dsn
        self._database_name = database
        self._timeout_ms = timeout_ms
        self._transactions = transactions
        self._client_options = dict(client_options or {})
        self._client: AsyncMongoClient[Document] | None = None
        self._collections: dict[str, AsyncCollection[Document]] = {}  # of this client
        self._specs: dict[str, EntitySpec[Any]] = {}
        self._repositories: dict[str, MongoRepository[Any]] = {}
        self._unit: ContextVar[Unit | None] = ContextVar(f"mongo-unit-{id(self)}", default=None)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, specs: Sequence[EntitySpec[Any]], *, create_schema: bool) -> None:
        for spec in specs:
            self._specs[spec.name] = spec
        if self._client is None:
            options: dict[str, Any] = {
                "serverSelectionTimeoutMS": self._timeout_ms,
                "connectTimeoutMS": self._timeout_ms,
                "timeoutMS": self._timeout_ms,  # every operation, end to end (PyMongo's CSOT)
                "tz_aware": True,
                "uuidRepresentation": "standard",
                **self._client_options,
            }
            with driver_errors("mongo"):
                self._client = AsyncMongoClient(self._dsn, **options)
        if create_schema:
            for spec in specs:
                await self.ensure_indexes(spec)

    async def close(self) -> None:
        client, self._client = self._client, None
        self._collections.clear()
        if client is not None:
            await client.close()

    async def ping(self) -> None:
        with driver_errors("mongo"):
            await self.client.admin.command("ping")

    def repository(self, spec: EntitySpec[T]) -> Repository[T]:
        from .repository import MongoRepository

        self._specs.setdefault(spec.name, spec)
        return MongoRepository(spec, self)

    # --- units of work -----------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """A session transaction: every repository operation of this backend inside the block
        (reads included, in this task and the tasks it starts, one at a time) runs in it; a
        clean exit commits, an exception or a cancellation aborts and propagates unchanged.
        Needs a replica set or a sharded cluster; units do not nest."""
        if self._unit.get() is not None:
            raise RuntimeError("units of work do not nest")
        if not await self.supports_transactions():
            raise TransactionsUnsupported(
                BACKEND, "transactions need a replica set (even of one member)"
            )
        with driver_errors(BACKEND):
            session = self.client.start_session()
        token = self._unit.set(Unit(session))
        try:
            with driver_errors(BACKEND):
                await session.start_transaction()
            try:
                yield
            except BaseException:
                # Shielded: a second cancellation must not leave the transaction open.
                await asyncio.shield(_quietly(session.abort_transaction(), "abort"))
                raise
            with driver_errors(BACKEND):
                await session.commit_transaction()
        finally:
            self._unit.reset(token)
            await asyncio.shield(_quietly(session.end_session(), "end session"))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncClientSession | None]:
        """The session of the unit of work this task is in (held for one operation), or
        ``None`` outside a unit."""
        unit = self._unit.get()
        if unit is None:
            yield None
            return
        async with unit.lock:
            yield unit.session

    async def run_in_transaction(self, work: Callable[[AsyncClientSession], Awaitable[R]]) -> R:
        """``work(session)`` in a transaction of its own, committed when it returns and started
        again from the beginning (with a jittered back-off) while concurrent writes conflict
        with it."""
        delay = 0.002
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                return await self._transaction_once(work)
            except TransientConflict:
                if attempt == TRANSACTION_ATTEMPTS - 1:
                    raise
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.1)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _transaction_once(self, work: Callable[[AsyncClientSession], Awaitable[R]]) -> R:
        with driver_errors(BACKEND):
            session = self.client.start_session()
        try:
            with driver_errors(BACKEND):
                await session.start_transaction()
            try:
                result = await work(session)
            except BaseException:
                await asyncio.shield(_quietly(session.abort_transaction(), "abort"))
                raise
            with driver_errors(BACKEND):
                await session.commit_transaction()
            return result
        finally:
            await asyncio.shield(_quietly(session.end_session(), "end session"))

    # --- what repositories use ---------------------------------------------------------------

    @property
    def client(self) -> AsyncMongoClient[Document]:
        if self._client is None:
            raise BackendUnavailable(BACKEND, "the backend is not started")
        return self._client

    @property
    def database(self) -> AsyncDatabase[Document]:
        return self.client[self._database_name]

    def collection(self, spec: EntitySpec[Any]) -> AsyncCollection[Document]:
        """The entity's collection, built once per client (PyMongo builds a new object, with
        its options, on every ``database[name]``)."""
        found = self._collections.get(spec.collection)
        if found is None:
            found = self._collections[spec.collection] = self.database[spec.collection]
        return found

    def spec(self, name: str) -> EntitySpec[Any]:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"{name!r} is not an entity of this backend") from None

    @property
    def specs(self) -> list[EntitySpec[Any]]:
        return list(self._specs.values())

    def repo(self, name: str) -> MongoRepository[Any]:
        """The repository of another entity of this backend (references, on_delete rules)."""
        found = self._repositories.get(name)
        if found is None:
            from .repository import MongoRepository

            found = self._repositories[name] = MongoRepository(self.spec(name), self)
        return found

    async def recount_references(self) -> None:
        """Recount every reference counter of this backend's entities from their children (see
        :mod:`.repository`): after a crash without transactions left one too high, or once
        for documents written before a relation declared ``on_delete``. Run it while the
        service does not write."""
        for spec in self.specs:
            await self.repo(spec.name).recount_references()

    async def supports_transactions(self) -> bool:
        if self._transactions is None:
            with driver_errors("mongo"):
                hello = await self.client.admin.command("hello")
            self._transactions = "setName" in hello or hello.get("msg") == "isdbgrid"
        return self._transactions

    async def ensure_indexes(self, spec: EntitySpec[Any]) -> list[str]:
        """Create the entity's indexes (a no-op for those that exist); returns their names."""
        collection = self.collection(spec)
        names = []
        with driver_errors(spec.name, spec.id_field):
            for model in index_models(spec):
                options = {k: v for k, v in model.items() if k != "keys"}
                names.append(await collection.create_index(model["keys"], **options))
        return names


async def _quietly(action: Awaitable[Any], what: str) -> None:
    """Finish a session step whose failure changes nothing for the caller (the server drops
    an abandoned transaction on its own)."""
    try:
        await action
    except PyMongoError as exc:
        log.warning("mongo %s failed (%s)", what, type(exc).__name__)
