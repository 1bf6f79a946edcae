"""The MongoDB backend: one ``AsyncMongoClient`` (PyMongo's native asyncio API, not Motor) for
the life of the process, and the indexes every entity declares.

Indexes created by :meth:`MongoBackend.start` when ``create_schema`` is set (each call is
idempotent: MongoDB ignores an identical index that already exists):

- ``unique_<field>`` for every unique field: a *partial* unique index that only covers
  documents where the field holds a value (``$type``), so any number of nulls coexist;
- ``index_<field>`` for every declared index;
- ``ttl_<field>`` for the entity's ``ttl_field`` with ``expireAfterSeconds=0``. MongoDB's TTL
  monitor only understands BSON dates, so an epoch-seconds field is mirrored into a hidden
  date field (:data:`TTL_SHADOW_FIELD`) on every write and the TTL index sits on the mirror.
  The monitor runs about once a minute, so reads also filter expired documents out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pymongo import ASCENDING, AsyncMongoClient

from ....ports.errors import BackendUnavailable
from ....ports.repository import Repository
from ....ports.schema import Kind
from ....settings import PersistenceKitSettings
from ..registry import EntitySpec
from .errors import BACKEND, UNIQUE_INDEX_PREFIX, driver_errors

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection
    from pymongo.asynchronous.database import AsyncDatabase

T = TypeVar("T")

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


def index_models(spec: EntitySpec[Any]) -> list[dict[str, Any]]:
    """The indexes an entity needs, as ``create_index`` keyword arguments."""
    indexes: list[dict[str, Any]] = []
    for field in spec.unique:
        info = spec.schema.resolve(field)
        types = _VALUE_TYPES.get(info.kind, _ANY_VALUE) if info is not None else _ANY_VALUE
        indexes.append(
            {
                "keys": [(field, ASCENDING)],
                "name": f"{UNIQUE_INDEX_PREFIX}{field}",
                "unique": True,
                "partialFilterExpression": {field: {"$type": types}},
            }
        )
    for field in spec.indexes:
        if field in spec.unique or field == spec.id_field:
            continue
        indexes.append({"keys": [(field, ASCENDING)], "name": f"index_{field}"})
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


class MongoBackend:
    """MongoDB through PyMongo's ``AsyncMongoClient``.

    ``transactions``: ``None`` (default) asks the server once (a replica set or ``mongos``
    supports them, a standalone does not); ``True``/``False`` forces the choice. It decides
    how ``add_many`` stays all-or-nothing (see :meth:`MongoRepository.add_many`).
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

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, specs: Sequence[EntitySpec[Any]], *, create_schema: bool) -> None:
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
        if client is not None:
            await client.close()

    async def ping(self) -> None:
        with driver_errors("mongo"):
            await self.client.admin.command("ping")

    def repository(self, spec: EntitySpec[T]) -> Repository[T]:
        from .repository import MongoRepository

        return MongoRepository(spec, self)

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
        return self.database[spec.collection]

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


def build_backend(settings: PersistenceKitSettings) -> MongoBackend:
    """The backend the container wires for ``REPO_DATABASE=mongo``."""
    return MongoBackend(
        settings.mongo_dsn,
        settings.mongo_db,
        timeout_ms=settings.mongo_timeout_ms,
        transactions=settings.mongo_transactions,
    )
