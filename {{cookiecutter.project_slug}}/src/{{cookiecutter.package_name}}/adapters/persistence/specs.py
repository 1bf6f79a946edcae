"""What a service persists: entity specs, their relations, and the :class:`EntityRegistry`
that holds them. Every backend reads its tables, indexes and keys from here.

Keeps persistence-kit's vocabulary::

    registry.register("book", {
        "entity": Book,
        "collection": "books",
        "unique": {"isbn": "isbn"},            # or ["isbn"]
        "unique_together": [("author_id", "title")],  # compound unique constraints
        "indexes": ["author_id"],
        "relations": {
            "author": {"target": "author", "local_field": "author_id", "by": "id",
                       "on_delete": "restrict"},    # integrity enforced by the database
            "reviews": {"target": "review", "target_field": "book_id"},
            "tags": {"target": "tag", "through": {"entity": "book_tag",
                                                   "local_field": "book_id",
                                                   "target_field": "tag_id"}},
        },
    })

(``register_entity`` in :mod:`.persistence_kit` takes the same config.) The same registration,
typed, so mypy checks every key and value kind::

    registry.register(EntitySpec(
        "book", Book, "books",
        unique=("isbn",),
        unique_together=(("author_id", "title"),),
        indexes=("author_id",),
        relations={
            "author": Relation("author", local_field="author_id", on_delete=OnDelete.RESTRICT),
            "reviews": Relation("review", target_field="book_id"),
        },
    ))

Both forms give the same spec: the collection defaults to the name, and a ``version`` field
turns on optimistic locking unless ``version_field`` says otherwise.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Final, Generic, TypeVar, cast, overload

from ...ports.schema import EntitySchema, schema_of

T = TypeVar("T")

# The default of ``EntitySpec.version_field``: "version" when the entity has such a field.
AUTO_VERSION: Final = "<version if the entity has one>"


class OnDelete(StrEnum):
    """What deleting the target of a many-to-one relation does to the entities pointing at it.

    Declaring one makes the relation *enforced*: a child can only be stored pointing at a
    target that exists (``ReferenceNotFound`` otherwise), and the rule below is applied
    atomically with the target's deletion, by the database where it can.
    """

    RESTRICT = "restrict"  # refuse to delete a target that is still referenced (StillReferenced)
    CASCADE = "cascade"  # delete the children too (and theirs, by their own rules)
    SET_NULL = "set_null"  # set the children's reference to null (the field must be optional)


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
    many-to-many: rows of ``through`` link this entity's id to the target's id.

    ``on_delete`` (many-to-one only) turns on referential integrity; see :class:`OnDelete`.
    Without it the reference is a plain value that may dangle (persistence-kit's behaviour).
    """

    target: str
    local_field: str = "id"
    by: str = "id"
    target_field: str | None = None
    through: Through | None = None
    on_delete: OnDelete | None = None

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
            on_delete=OnDelete(config["on_delete"]) if config.get("on_delete") else None,
        )


@dataclass(frozen=True)
class EntitySpec(Generic[T]):
    """How one entity is persisted (the typed form of a registration)."""

    name: str
    entity: type[T]
    collection: str = ""  # the name when empty
    id_field: str = "id"
    unique: tuple[str, ...] = ()
    unique_together: tuple[tuple[str, ...], ...] = ()  # compound unique constraints
    indexes: tuple[str, ...] = ()
    relations: Mapping[str, Relation] = field(default_factory=dict)
    version_field: str | None = AUTO_VERSION
    ttl_field: str | None = None  # an epoch-seconds or datetime field; expired rows vanish
    database: str | None = None  # per-entity backend override (persistence-kit's "database")
    # HMAC key of this entity's page cursors (the registry's; see EntityRegistry).
    cursor_key: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen: the two derived defaults are set once, here.
        if not self.collection:
            object.__setattr__(self, "collection", self.name)
        if self.version_field == AUTO_VERSION:
            fields = {f.name for f in dataclasses.fields(cast(Any, self.entity))}
            object.__setattr__(self, "version_field", "version" if "version" in fields else None)

    @cached_property
    def schema(self) -> EntitySchema:
        return schema_of(self.entity)

    @property
    def indexed_fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.unique, *self.indexes)))

    @property
    def unique_keys(self) -> tuple[tuple[str, ...], ...]:
        """Every unique constraint as a tuple of fields: single fields, then compound ones."""
        return tuple((f,) for f in self.unique) + self.unique_together

    @property
    def references(self) -> dict[str, Relation]:
        """The enforced many-to-one relations (those that declare ``on_delete``), by name."""
        return {
            name: rel
            for name, rel in self.relations.items()
            if rel.on_delete is not None and rel.kind is RelationKind.MANY_TO_ONE
        }

    @classmethod
    def from_config(cls, name: str, config: EntitySpec[T] | Mapping[str, Any]) -> EntitySpec[T]:
        if isinstance(config, EntitySpec):
            if config.name != name:
                raise ValueError(f"registered as {name!r} but its spec is named {config.name!r}")
            return config
        entity = cast(type[T], config["entity"])
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
            unique_together=tuple(tuple(group) for group in config.get("unique_together", ())),
            indexes=tuple(config.get("indexes", ())),
            relations={
                rel: Relation.from_config(rc) for rel, rc in config.get("relations", {}).items()
            },
            version_field=config.get("version_field", AUTO_VERSION),
            ttl_field=config.get("ttl_field"),
            database=str(database.value if hasattr(database, "value") else database)
            if database
            else None,
        )

    def validate(self) -> None:
        names = set(self.schema.fields)
        compound = [f for group in self.unique_together for f in group]
        for group in self.unique_together:
            if len(group) < 2 or len(set(group)) != len(group):
                raise ValueError(f"{self.name}: unique_together {group!r} needs 2+ distinct fields")
        for wanted in (self.id_field, *self.unique, *compound, *self.indexes):
            if wanted not in names:
                raise ValueError(f"{self.name}: {wanted!r} is not a field of {self.entity}")
        for optional in (self.version_field, self.ttl_field):
            if optional is not None and optional not in names:
                raise ValueError(f"{self.name}: {optional!r} is not a field of {self.entity}")


class EntityRegistry:
    """The entities a service persists.

    ``cursor_secret`` signs page cursors (HMAC-SHA256): a cursor is only accepted by the
    collection, sort and filter it was issued for, and by processes sharing the secret. Without
    one, a random per-process key is used (fine for tests and one process; production settings
    require ``CURSOR_SECRET``).
    """

    def __init__(self, cursor_secret: str | bytes | None = None) -> None:
        self._specs: dict[str, EntitySpec[Any]] = {}
        if isinstance(cursor_secret, str):
            cursor_secret = cursor_secret.encode()
        self.cursor_key: bytes = cursor_secret or secrets.token_bytes(32)

    @overload
    def register(self, name: EntitySpec[T], /) -> EntitySpec[T]: ...
    @overload
    def register(
        self, name: str, config: EntitySpec[Any] | Mapping[str, Any]
    ) -> EntitySpec[Any]: ...
    def register(
        self, name: str | EntitySpec[Any], config: EntitySpec[Any] | Mapping[str, Any] | None = None
    ) -> EntitySpec[Any]:
        """Add an entity: ``register(EntitySpec(...))`` (typed), or ``register(name, config)``
        with persistence-kit's dict (or a spec). Validated here: an unknown field fails now."""
        given: EntitySpec[Any] | Mapping[str, Any]
        if isinstance(name, EntitySpec):
            key, given = name.name, name
        elif config is None:
            raise TypeError("register(name, config) needs the config")
        else:
            key, given = name, config
        spec = dataclasses.replace(EntitySpec.from_config(key, given), cursor_key=self.cursor_key)
        spec.validate()
        self._specs[key] = spec
        return spec

    def add_relation(self, entity: str, name: str, config: Relation | Mapping[str, Any]) -> None:
        """Declare a relation on an entity registered elsewhere: a feature adding the reverse
        side of its own many-to-one (``book.reviews``) without editing the other feature."""
        spec = self.get(entity)
        if name in spec.relations:
            raise ValueError(f"{entity} already has a relation named {name!r}")
        relations = {**spec.relations, name: Relation.from_config(config)}
        self._specs[entity] = dataclasses.replace(spec, relations=relations)

    def referencing(self, name: str) -> list[tuple[EntitySpec[Any], str, Relation]]:
        """Every enforced relation whose target is ``name``: (child spec, relation name, rule)."""
        return [
            (spec, rel_name, rel)
            for spec in self._specs.values()
            for rel_name, rel in spec.references.items()
            if rel.target == name
        ]

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
                    if rel.on_delete is not None:
                        _check_enforced(spec, target, rel, where)
                elif rel.kind is RelationKind.ONE_TO_MANY:
                    _require(target, cast(str, rel.target_field), where)
                else:
                    through = self.get(cast(Through, rel.through).entity)
                    _require(through, cast(Through, rel.through).local_field, where)
                    _require(through, cast(Through, rel.through).target_field, where)


def _check_enforced(
    spec: EntitySpec[Any], target: EntitySpec[Any], rel: Relation, where: str
) -> None:
    if rel.by != target.id_field:
        raise ValueError(f"relation {where}: on_delete needs the reference to be the target's id")
    if (spec.database or None) != (target.database or None):
        raise ValueError(f"relation {where}: on_delete needs both entities on one backend")
    if target.ttl_field is not None:
        # expiry removes rows without applying any on_delete rule (MongoDB's TTL monitor,
        # DynamoDB's TTL): children would dangle
        raise ValueError(f"relation {where}: on_delete needs a target without a ttl_field")
    if rel.on_delete is OnDelete.SET_NULL and not spec.schema.fields[rel.local_field].optional:
        raise ValueError(f"relation {where}: set_null needs {rel.local_field!r} to be optional")


def _require(spec: EntitySpec[Any], name: str, where: str) -> None:
    if name not in spec.schema.fields:
        raise ValueError(f"relation {where}: {spec.name} has no field {name!r}")
