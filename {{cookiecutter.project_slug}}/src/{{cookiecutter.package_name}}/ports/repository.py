"""Repository ports: what the application may ask of persistence, whatever the backend.

Semantics every adapter honours (the contract suite in ``tests/contract`` proves them):

- Ids are strings. Entities are dataclasses; adapters hand back new instances, never the
  caller's object, and never share mutable state with their store.
- Every write goes through the domain: what is stored is what the entity's constructor gives
  for those values (validation and normalisation included). ``add``/``add_many``/``upsert``/
  ``update`` rebuild the entity; ``update_fields`` reads the stored row, merges the changes,
  builds the entity and writes the whole result guarded by "nothing changed since the read"
  (so it costs a read and a write: on PostgreSQL one transaction with ``SELECT ... FOR
  UPDATE``; elsewhere a read then a write conditioned on the version read, retried when another
  writer got in between and the caller gave no ``expected_version``). A refused write raises
  the entity's own error (a ``DomainError``) or ``InvalidInput`` and changes nothing.
- Unique fields and ``unique_together`` constraints are enforced atomically by the database: N
  concurrent ``add`` calls with the same unique value give exactly one success and
  ``AlreadyExists`` for the rest (``field`` names the constraint: ``sku`` or ``a+b``).
- Relations declared with ``on_delete`` are enforced atomically by the backend: a write that
  points a child at a missing target raises ``ReferenceNotFound``; deleting a target applies
  ``restrict`` (``StillReferenced``), ``cascade`` or ``set_null`` to the children in the same
  atomic step.
- Several writes commit together in a unit of work (``ports.unit_of_work``).
- When the entity has a version field, ``add`` stores version 1 and every write increments it.
  ``update`` succeeds only if the entity's version is the stored one; otherwise
  ``ConcurrencyConflict`` and nothing changes.
- ``conditions`` use the filter syntax of :mod:`.query` (generic-repo's dict syntax) and are
  checked atomically with the write; a false condition raises ``ConditionFailed`` carrying
  ``rejection_message`` and changes nothing.
- ``add_many`` is all-or-nothing where the backend offers it (memory, PostgreSQL, MongoDB in a
  transaction when available); where it cannot be (DynamoDB batches of 25) it raises
  ``BatchWriteError`` naming exactly which ids were not written.
- With a ``sort``, ``find`` returns a total order (ties broken by id), so offset and cursor
  pages are stable; ``None`` sorts before every value. Without one the order is the backend's
  own but stable: by id on memory, PostgreSQL and MongoDB, table order on DynamoDB (which has
  no server-side sort; see docs/dynamodb.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from .query import FilterInput, Page, Query

T = TypeVar("T")


class Repository(Protocol[T]):
    """Persistence of one entity type; every backend passes the same contract suite
    (tests/contract/test_repository_contract.py)."""

    @property
    def entity_name(self) -> str:
        """The name the entity was registered under."""
        ...

    async def get(self, id: str) -> T | None:
        """The entity stored under id, or None."""
        ...

    async def get_or_raise(self, id: str) -> T:
        """The entity, or ``NotFound``."""
        ...

    async def get_many(self, ids: Sequence[str]) -> list[T]:
        """The entities that exist among ``ids``, in the order asked, duplicates once."""
        ...

    async def get_by(self, field: str, value: Any) -> T | None:
        """The first entity whose (unique or indexed) ``field`` equals ``value``."""
        ...

    async def add(self, entity: T) -> T:
        """Store a new entity (rebuilt through its constructor); AlreadyExists on a taken id or
        unique value, ReferenceNotFound on a dangling enforced reference."""
        ...

    async def add_many(self, entities: Sequence[T]) -> list[T]:
        """Store several new entities all or nothing; returns them as stored."""
        ...

    async def update(
        self,
        entity: T,
        *,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        """Replace the stored entity, guarded by its version and ``conditions``."""
        ...

    async def update_fields(
        self,
        id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        """Change some fields in one atomic write; returns the entity as stored."""
        ...

    async def upsert(self, entity: T) -> T:
        """Insert, or replace whatever is stored under the entity's id (no version check)."""
        ...

    async def delete(
        self,
        id: str,
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> None:
        """Remove the entity, or raise ``NotFound``."""
        ...

    async def delete_many(self, ids: Sequence[str]) -> int:
        """Remove those that exist; returns how many were removed."""
        ...

    async def find(self, query: Query | None = None) -> Page[T]:
        """One page of matches: filter, sort, limit, and a cursor or an offset."""
        ...

    async def find_all(self, filter: FilterInput | None = None, sort: str | None = None) -> list[T]:
        """Every match, in order. For bounded internal use (relations, scripts)."""
        ...

    async def find_one(self, filter: FilterInput) -> T | None:
        """The first match in id order, or None."""
        ...

    async def count(self, filter: FilterInput | None = None) -> int:
        """How many entities match."""
        ...

    async def exists(self, filter: FilterInput | None = None) -> bool:
        """Whether any entity matches."""
        ...

    async def distinct(self, field: str, filter: FilterInput | None = None) -> list[Any]:
        """The distinct non-null values of ``field`` among the matches, sorted."""
        ...


@dataclass
class Populated(Generic[T]):
    """An entity with its related entities attached under the relation names asked for.

    ``related[name]`` is a :class:`Populated` (many-to-one; ``None`` when the reference dangles)
    or a list of them (one-to-many, many-to-many).
    """

    entity: T
    related: dict[str, Populated[Any] | list[Populated[Any]] | None] = field(default_factory=dict)


class ViewRepository(Protocol[T]):
    """Reads entities with their relations populated in a bounded number of round trips:
    one query per relation level, whatever the page size (never one query per row)."""

    @property
    def entity_name(self) -> str:
        """The name of the entity this view reads."""
        ...

    async def get(self, id: str, include: Sequence[str] = ()) -> Populated[T] | None:
        """The entity under id with the relations in include (dotted for nested ones), or None."""
        ...

    async def find(
        self, query: Query | None = None, include: Sequence[str] = ()
    ) -> Page[Populated[T]]:
        """Like ``Repository.find``; filters and sorts may use dotted relation paths."""
        ...
