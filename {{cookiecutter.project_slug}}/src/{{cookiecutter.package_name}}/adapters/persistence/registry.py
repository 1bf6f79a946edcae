"""The persistence wiring: which backend serves each registered entity, and the
:class:`RepositoryProvider` that hands out their repositories and units of work.

What is persisted (entity specs, relations, the :class:`EntityRegistry`) is described in
:mod:`.specs`; persistence-kit's module-level API (``register_entity``, ``get_repo``,
``activate``...) lives in :mod:`.persistence_kit`. Both are re-exported here, so
``from .registry import EntityRegistry, activate`` keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, cast

from ...ports.errors import TransactionsUnsupported
from ...ports.repository import Repository, ViewRepository
from ...ports.unit_of_work import UnitOfWork
from .persistence_kit import (
    activate,
    default_registry,
    ensure_registry_initialized,
    get_repo,
    get_repo_view,
    register_entity,
    set_registry_initializer,
)
from .specs import EntityRegistry, EntitySpec, OnDelete, Relation, RelationKind, Through

__all__ = [
    "EntityRegistry",
    "EntitySpec",
    "OnDelete",
    "PersistenceBackend",
    "ProviderUnitOfWork",
    "Relation",
    "RelationKind",
    "RepositoryProvider",
    "Through",
    "activate",
    "default_registry",
    "ensure_registry_initialized",
    "get_repo",
    "get_repo_view",
    "register_entity",
    "set_registry_initializer",
]

T = TypeVar("T")


class PersistenceBackend(Protocol):
    """One database technology. Created cheaply; connects in ``start``."""

    name: str

    async def start(self, specs: Sequence[EntitySpec[Any]], *, create_schema: bool) -> None:
        """Open clients once; create tables/indexes when ``create_schema``."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return when the database answers; raise ``BackendUnavailable`` otherwise."""
        ...

    def repository(self, spec: EntitySpec[T]) -> Repository[T]: ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """A unit of work on this backend (see ``ports.unit_of_work``): the writes this
        backend's repositories make inside it, in this task and the tasks it starts, commit
        together on a clean exit and are all undone when it exits with an exception."""
        ...


class RepositoryProvider:
    """Hands out one repository per entity, each on its configured backend.

    ``backends`` maps a backend name to a zero-argument factory (a container provider), so a
    backend no entity uses is never built, imported or connected.
    """

    def __init__(
        self,
        registry: EntityRegistry,
        backends: Mapping[str, Callable[[], PersistenceBackend]],
        default: str,
    ) -> None:
        self.registry = registry
        self._factories = dict(backends)
        self.default = str(default)
        self._backends: dict[str, PersistenceBackend] = {}
        self._repos: dict[str, Repository[Any]] = {}
        self._views: dict[str, ViewRepository[Any]] = {}

    def _backend_name(self, spec: EntitySpec[Any]) -> str:
        return spec.database or self.default

    def backend(self, name: str) -> PersistenceBackend:
        if name not in self._backends:
            if name not in self._factories:
                raise KeyError(f"no persistence backend named {name!r}")
            self._backends[name] = self._factories[name]()
        return self._backends[name]

    async def start(self, *, create_schema: bool) -> None:
        self.registry.check_relations()
        by_backend: dict[str, list[EntitySpec[Any]]] = {}
        for spec in self.registry:
            by_backend.setdefault(self._backend_name(spec), []).append(spec)
        by_backend.setdefault(self.default, [])
        for name, specs in by_backend.items():
            await self.backend(name).start(specs, create_schema=create_schema)

    async def close(self) -> None:
        for backend in reversed(list(self._backends.values())):
            await backend.close()
        self._backends.clear()
        self._repos.clear()
        self._views.clear()

    async def ping(self) -> None:
        """Return when every started backend answers; else ``BackendUnavailable``."""
        for backend in list(self._backends.values()):
            await backend.ping()

    def repo(self, name: str) -> Repository[Any]:
        if name not in self._repos:
            spec = self.registry.get(name)
            self._repos[name] = self.backend(self._backend_name(spec)).repository(spec)
        return self._repos[name]

    def of(self, entity: type[T]) -> Repository[T]:
        return cast(Repository[T], self.repo(self.registry.for_entity(entity).name))

    def unit_of_work(self) -> UnitOfWork:
        """A new all-or-nothing unit over the default backend's repositories."""
        return ProviderUnitOfWork(self)

    def view(self, name: str) -> ViewRepository[Any]:
        if name not in self._views:
            from .views import PopulatingViewRepository

            self._views[name] = PopulatingViewRepository(self, self.registry.get(name))
        return self._views[name]


class ProviderUnitOfWork:
    """``UnitOfWork`` over the repositories of one :class:`RepositoryProvider`."""

    def __init__(self, provider: RepositoryProvider) -> None:
        self._provider = provider
        self._backend_name = provider.default
        self._transaction: AbstractAsyncContextManager[None] | None = None

    def repo(self, name: str) -> Repository[Any]:
        spec = self._provider.registry.get(name)
        backend = spec.database or self._provider.default
        if backend != self._backend_name:
            raise TransactionsUnsupported(
                backend,
                f"a unit of work spans one backend ({self._backend_name}); {name} is not on it",
            )
        return self._provider.repo(name)

    def of(self, entity: type[T]) -> Repository[T]:
        return cast(Repository[T], self.repo(self._provider.registry.for_entity(entity).name))

    async def __aenter__(self) -> Self:
        if self._transaction is not None:
            raise RuntimeError("a unit of work is used once")
        self._transaction = self._provider.backend(self._backend_name).transaction()
        await self._transaction.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._transaction is not None, "__aexit__ before __aenter__"
        await self._transaction.__aexit__(exc_type, exc, traceback)
