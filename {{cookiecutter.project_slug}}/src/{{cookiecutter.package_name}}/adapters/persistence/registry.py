"""The entity registry: what is stored where, which fields are unique or indexed, and how
entities relate. Every backend reads its tables, indexes and keys from here.

Keeps persistence-kit's vocabulary::

    register_entity("book", {
        "entity": Book,
        "collection": "books",
        "unique": {"isbn": "isbn"},            # or ["isbn"]
        "indexes": ["author_id"],
        "relations": {
            "author": {"target": "author", "local_field": "author_id", "by": "id"},
            "reviews": {"target": "review", "target_field": "book_id"},
            "tags": {"target": "tag", "through": {"entity": "book_tag",
                                                   "local_field": "book_id",
                                                   "target_field": "tag_id"}},
        },
    })
    repo = get_repo("book")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar, cast

from ...ports.errors import InvalidQuery
from ...ports.repository import Repository, ViewRepository
from ...ports.schema import EntitySchema, schema_of

T = TypeVar("T")


class RelationKind(StrEnum):
    MANY_TO_ONE = "many_to_one"
    ONE_TO_MANY = "one_to_many"
    MANY_TO_MANY = "many_to_many"


@dataclass(frozen=True)
class Through:
    """The join entity of a many-to-many relation."""

    entity: str
    local_field: str  # on the join entity: this entity's key
    target_field: str  # on the join entity: the target's key


@dataclass(frozen=True)
class Relation:
    """many-to-one: ``local_field`` on this entity equals ``by`` on the target.
    one-to-many: ``target_field`` on the target equals ``local_field`` (the id) here.
    many-to-many: rows of ``through`` link this entity's id to the target's id."""

    target: str
    local_field: str = "id"
    by: str = "id"
    target_field: str | None = None
    through: Through | None = None

    @property
    def kind(self) -> RelationKind:
        if self.through is not None:
            return RelationKind.MANY_TO_MANY
        if self.target_field is not None:
            return RelationKind.ONE_TO_MANY
        return RelationKind.MANY_TO_ONE

    @classmethod
    def from_config(cls, config: Relation | Mapping[str, Any]) -> Relation:
        if isinstance(config, Relation):
            return config
        through = config.get("through")
        if isinstance(through, Mapping):
            through = Through(**through)
        return cls(
            target=config["target"],
            local_field=config.get("local_field", "id"),
            by=config.get("by", "id"),
            target_field=config.get("target_field"),
            through=through,
        )


@dataclass(frozen=True)
class EntitySpec(Generic[T]):
    """How one entity is persisted."""

    name: str
    entity: type[T]
    collection: str
    id_field: str = "id"
    unique: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()
    relations: Mapping[str, Relation] = field(default_factory=dict)
    version_field: str | None = None
    ttl_field: str | None = None  # an epoch-seconds or datetime field; expired rows vanish
    database: str | None = None  # per-entity backend override (persistence-kit's "database")

    @cached_property
    def schema(self) -> EntitySchema:
        return schema_of(self.entity)

    @property
    def indexed_fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.unique, *self.indexes)))

    @classmethod
    def from_config(cls, name: str, config: EntitySpec[T] | Mapping[str, Any]) -> EntitySpec[T]:
        if isinstance(config, EntitySpec):
            return config
        entity = cast(type[T], config["entity"])
        fields = {f.name for f in dataclasses.fields(cast(Any, entity))}
        unique = config.get("unique", ())
        if isinstance(unique, Mapping):
            unique = tuple(unique.values())
        database = config.get("database")
        return cls(
            name=name,
            entity=entity,
            collection=config.get("collection", name),
            id_field=config.get("id_field", "id"),
            unique=tuple(unique),
            indexes=tuple(config.get("indexes", ())),
            relations={
                rel: Relation.from_config(rc) for rel, rc in config.get("relations", {}).items()
            },
            version_field=config.get("version_field", "version" if "version" in fields else None),
            ttl_field=config.get("ttl_field"),
            database=str(database.value if hasattr(database, "value") else database)
            if database
            else None,
        )

    def validate(self) -> None:
        names = set(self.schema.fields)
        for wanted in (self.id_field, *self.unique, *self.indexes):
            if wanted not in names:
                raise ValueError(f"{self.name}: {wanted!r} is not a field of {self.entity}")
        for optional in (self.version_field, self.ttl_field):
            if optional is not None and optional not in names:
                raise ValueError(f"{self.name}: {optional!r} is not a field of {self.entity}")


class EntityRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, EntitySpec[Any]] = {}

    def register(self, name: str, config: EntitySpec[Any] | Mapping[str, Any]) -> EntitySpec[Any]:
        spec = EntitySpec.from_config(name, config)
        spec.validate()
        self._specs[name] = spec
        return spec

    def get(self, name: str) -> EntitySpec[Any]:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"no entity registered as {name!r}") from None

    def for_entity(self, entity: type[T]) -> EntitySpec[T]:
        for spec in self._specs.values():
            if spec.entity is entity:
                return cast(EntitySpec[T], spec)
        raise KeyError(f"{entity.__name__} is not registered")

    def __iter__(self) -> Iterator[EntitySpec[Any]]:
        return iter(self._specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def check_relations(self) -> None:
        """Fail at start-up, not at the first request, when a relation names a missing piece."""
        for spec in self:
            for rel_name, rel in spec.relations.items():
                target = self.get(rel.target)
                where = f"{spec.name}.{rel_name}"
                if rel.kind is RelationKind.MANY_TO_ONE:
                    _require(spec, rel.local_field, where)
                    _require(target, rel.by, where)
                elif rel.kind is RelationKind.ONE_TO_MANY:
                    _require(target, cast(str, rel.target_field), where)
                else:
                    through = self.get(cast(Through, rel.through).entity)
                    _require(through, cast(Through, rel.through).local_field, where)
                    _require(through, cast(Through, rel.through).target_field, where)


def _require(spec: EntitySpec[Any], name: str, where: str) -> None:
    if name not in spec.schema.fields:
        raise ValueError(f"relation {where}: {spec.name} has no field {name!r}")


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
        self._views: dict[str, ViewRepository] = {}

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

    def view(self, name: str) -> ViewRepository:
        if name not in self._views:
            from .views import PopulatingViewRepository

            self._views[name] = PopulatingViewRepository(self, self.registry.get(name))
        return self._views[name]


# --- persistence-kit compatible module-level facade ------------------------------------------

default_registry = EntityRegistry()
_active: RepositoryProvider | None = None
_initializer: Callable[[], None] | None = None


def register_entity(name: str, config: EntitySpec[Any] | Mapping[str, Any]) -> EntitySpec[Any]:
    return default_registry.register(name, config)


def set_registry_initializer(initializer: Callable[[], None]) -> None:
    """Run ``initializer`` (which calls ``register_entity``) once, before first use."""
    global _initializer
    _initializer = initializer


def ensure_registry_initialized() -> EntityRegistry:
    global _initializer
    if _initializer is not None:
        initializer, _initializer = _initializer, None
        initializer()
    return default_registry


def activate(provider: RepositoryProvider | None) -> None:
    """Make ``provider`` the one ``get_repo`` answers from (the lifespan does this)."""
    global _active
    _active = provider


def _require_active() -> RepositoryProvider:
    if _active is None:
        raise InvalidQuery("no repository provider is active: start the app (or call activate())")
    return _active


def get_repo(name: str) -> Repository[Any]:
    return _require_active().repo(name)


def get_repo_view(name: str) -> ViewRepository:
    return _require_active().view(name)
