"""A blocking facade over the async repositories, for scripts, CLIs and thread-based workers.

Async drivers (asyncpg, PyMongo's async client, aioboto3) are bound to the event loop that
opened them, so the facade owns one private loop in a background thread: the backend is
started on it, and every call is run there. Method names match the async port::

    with SyncPersistence(provider) as persistence:
        books = persistence.repo("book")
        books.add(Book(...))
        page = books.find(Query(limit=10))
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

from ...ports.query import FilterInput, Page, Query
from ...ports.repository import Repository
from .registry import RepositoryProvider

T = TypeVar("T")
R = TypeVar("R")


class _LoopThread:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, R]) -> R:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class SyncRepository(Generic[T]):
    def __init__(self, repo: Repository[T], runner: _LoopThread) -> None:
        self._repo = repo
        self._run = runner.run

    @property
    def entity_name(self) -> str:
        return self._repo.entity_name

    def get(self, id: str) -> T | None:
        return self._run(self._repo.get(id))

    def get_or_raise(self, id: str) -> T:
        return self._run(self._repo.get_or_raise(id))

    def get_many(self, ids: Sequence[str]) -> list[T]:
        return self._run(self._repo.get_many(ids))

    def get_by(self, field: str, value: Any) -> T | None:
        return self._run(self._repo.get_by(field, value))

    def add(self, entity: T) -> T:
        return self._run(self._repo.add(entity))

    def add_many(self, entities: Sequence[T]) -> list[T]:
        return self._run(self._repo.add_many(entities))

    def update(
        self,
        entity: T,
        *,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        return self._run(
            self._repo.update(entity, conditions=conditions, rejection_message=rejection_message)
        )

    def update_fields(
        self,
        id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        return self._run(
            self._repo.update_fields(
                id,
                changes,
                expected_version=expected_version,
                conditions=conditions,
                rejection_message=rejection_message,
            )
        )

    def upsert(self, entity: T) -> T:
        return self._run(self._repo.upsert(entity))

    def delete(
        self,
        id: str,
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> None:
        self._run(
            self._repo.delete(
                id,
                expected_version=expected_version,
                conditions=conditions,
                rejection_message=rejection_message,
            )
        )

    def delete_many(self, ids: Sequence[str]) -> int:
        return self._run(self._repo.delete_many(ids))

    def find(self, query: Query | None = None) -> Page[T]:
        return self._run(self._repo.find(query))

    def find_all(self, filter: FilterInput | None = None, sort: str | None = None) -> list[T]:
        return self._run(self._repo.find_all(filter, sort))

    def find_one(self, filter: FilterInput) -> T | None:
        return self._run(self._repo.find_one(filter))

    def count(self, filter: FilterInput | None = None) -> int:
        return self._run(self._repo.count(filter))

    def exists(self, filter: FilterInput | None = None) -> bool:
        return self._run(self._repo.exists(filter))

    def distinct(self, field: str, filter: FilterInput | None = None) -> list[Any]:
        return self._run(self._repo.distinct(field, filter))


class SyncPersistence:
    """Starts a :class:`RepositoryProvider` on a private loop and hands out sync repositories."""

    def __init__(self, provider: RepositoryProvider, *, create_schema: bool = False) -> None:
        self._provider = provider
        self._create_schema = create_schema
        self._runner: _LoopThread | None = None

    def __enter__(self) -> SyncPersistence:
        self._runner = _LoopThread()
        self._runner.run(self._provider.start(create_schema=self._create_schema))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            self._runner.run(self._provider.close())
            self._runner.stop()
            self._runner = None

    def repo(self, name: str) -> SyncRepository[Any]:
        if self._runner is None:
            raise RuntimeError("use SyncPersistence as a context manager")
        return SyncRepository(self._provider.repo(name), self._runner)

    def of(self, entity: type[T]) -> SyncRepository[T]:
        if self._runner is None:
            raise RuntimeError("use SyncPersistence as a context manager")
        return SyncRepository(self._provider.of(entity), self._runner)
