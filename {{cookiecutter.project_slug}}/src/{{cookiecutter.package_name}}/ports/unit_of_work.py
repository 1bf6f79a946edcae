"""The unit of work port: several writes, on several repositories, that commit all or nothing.

    async with uow_factory() as uow:
        author = await uow.of(Author).add(Author(...))
        await uow.of(Book).add(Book(author_id=author.id, ...))
    # both stored, or (an exception left the block) neither

A clean exit commits; an exception rolls everything back and propagates. How each backend
keeps the promise (the contract suite proves it on every one):

- memory: writes apply under the backend's lock, with an undo log replayed on failure;
- PostgreSQL: one database transaction on one connection;
- MongoDB: a session transaction (needs a replica set or sharded cluster, even of one member;
  a standalone server raises ``TransactionsUnsupported`` when the unit starts);
- DynamoDB: writes are staged and sent as one ``TransactWriteItems`` at the exit (at most 100
  items: a larger unit raises ``TransactionTooLarge`` before anything is sent). Reads inside
  the unit see the committed state, not the unit's own staged writes (writes do see them: a
  write to an item staged earlier in the unit builds on it).

The unit belongs to the task that opened it (a ``ContextVar``): while it is open, every write of
that backend's repositories in this task (and in tasks it starts) joins it, whether the
repository came from ``uow.of`` or elsewhere.

A unit spans the entities of one backend; repositories of entities pinned to another backend
are refused. Version checks, unique fields, conditions and references keep their meaning:
on DynamoDB their failures are raised at the exit, when the transaction is sent.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from .repository import Repository

T = TypeVar("T")


class UnitOfWork(Protocol):
    """One all-or-nothing unit; use it once, as an async context manager."""

    def of(self, entity: type[T]) -> Repository[T]:
        """The repository of ``entity``, writing inside this unit."""
        ...

    def repo(self, name: str) -> Repository[Any]:
        """The repository of the entity registered as ``name``, writing inside this unit."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class UnitOfWorkFactory(Protocol):
    """What use cases take: call it for a new unit."""

    def __call__(self) -> UnitOfWork: ...
