"""Tables from the entity registry: one typed column per field, indexes from the declarations.

``build_metadata(registry)`` is the single source of the schema: the backend creates tables
from it on start-up (``create_schema``) and Alembic autogenerates migrations from it.

Column types follow the field kinds (:mod:`...ports.schema`):

=========================  ==========================================================
str                        TEXT COLLATE "C" (code-point order, like every other backend)
int                        BIGINT
float                      DOUBLE PRECISION
Decimal                    NUMERIC (no scale: a value comes back with the digits it went in)
bool                       BOOLEAN
datetime                   TIMESTAMPTZ (naive values are taken as UTC, like the query parser)
date                       DATE
UUID                       UUID
Enum                       TEXT COLLATE "C" (BIGINT for integer enums)
list, set, dict, nested    JSONB (the honest type for a value with inner structure)
=========================  ==========================================================

Enums are stored as their value in a TEXT column rather than a PostgreSQL ``ENUM`` type:
a native enum sorts by declaration order (the kit sorts enums by value on every backend),
and adding a member needs ``ALTER TYPE`` in a migration of its own. The Python ``Enum``
stays the authority on which values are valid.

Constraint and index names are deterministic (``pk_<table>``, ``uq_<table>_<field>``,
``uq_<table>_<a>_<b>`` for a compound constraint, ``ix_<table>_<field>``,
``fk_<table>_<field>``) so a violation can be mapped back to the fields it guards.

Relations that declare ``on_delete`` are foreign keys to the target's id, ``ON DELETE
RESTRICT`` (checked at once, not at the end of the statement like ``NO ACTION``), ``CASCADE``
or ``SET NULL``; their referencing columns are indexed, so deleting a target never scans its
children. Compound unique constraints (``unique_together``) are unique indexes over their
columns: a row with a null in any of them is not checked, as the port requires.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from ....ports.schema import FieldInfo, Kind
from ..codec import to_record
from ..registry import EntityRegistry, EntitySpec, OnDelete, Relation

TEXT_COLLATION = "C"
MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names
JSON_KINDS = frozenset({Kind.LIST, Kind.SET, Kind.DICT, Kind.NESTED, Kind.ANY})
ON_DELETE_SQL = {
    OnDelete.RESTRICT: "RESTRICT",
    OnDelete.CASCADE: "CASCADE",
    OnDelete.SET_NULL: "SET NULL",
}


def build_metadata(
    registry: EntityRegistry | Iterable[EntitySpec[Any]],
    *,
    schema: str | None = None,
    metadata: sa.MetaData | None = None,
) -> sa.MetaData:
    """SQLAlchemy metadata holding one table per registered entity (foreign keys included)."""
    metadata = metadata if metadata is not None else sa.MetaData(schema=schema)
    specs = list(registry)
    by_name = {spec.name: spec for spec in specs}
    for spec in specs:
        table_for(spec, metadata, by_name)
    return metadata


def table_for(
    spec: EntitySpec[Any],
    metadata: sa.MetaData,
    specs: Mapping[str, EntitySpec[Any]] | None = None,
) -> sa.Table:
    """The entity's table in ``metadata`` (added on first use).

    ``specs`` (by entity name) resolves the targets of enforced relations into foreign keys;
    a table whose relations name a target it does not hold is refused rather than created
    without its foreign keys.
    """
    key = f"{metadata.schema}.{spec.collection}" if metadata.schema else spec.collection
    existing = metadata.tables.get(key)
    if existing is not None:
        return existing
    name = spec.collection
    columns = [_column(spec, info) for info in spec.schema.fields.values()]
    foreign_keys = [
        _foreign_key(spec, rel, _target(spec, rel_name, rel, specs), metadata.schema)
        for rel_name, rel in spec.references.items()
    ]
    table = sa.Table(
        name,
        metadata,
        *columns,
        sa.PrimaryKeyConstraint(spec.id_field, name=constraint_name("pk", name)),
        *foreign_keys,
    )
    for field in spec.unique:
        sa.Index(constraint_name("uq", name, field), table.c[field], unique=True)
    for fields in spec.unique_together:
        sa.Index(
            constraint_name("uq", name, "_".join(fields)),
            *(table.c[f] for f in fields),
            unique=True,
        )
    covered = {*spec.unique, *(fields[0] for fields in spec.unique_together)}
    indexed = [f for f in spec.indexes if f not in spec.unique]
    # A foreign key's column is indexed: deleting a target looks its children up by it.
    indexed += [r.local_field for r in spec.references.values() if r.local_field not in covered]
    if spec.ttl_field is not None and spec.ttl_field not in (*spec.unique, *indexed):
        indexed.append(spec.ttl_field)  # expired rows are filtered (and purged) by this column
    for field in dict.fromkeys(indexed):
        sa.Index(constraint_name("ix", name, field), table.c[field])
    return table


def _target(
    spec: EntitySpec[Any],
    rel_name: str,
    rel: Relation,
    specs: Mapping[str, EntitySpec[Any]] | None,
) -> EntitySpec[Any]:
    target = (specs or {}).get(rel.target)
    if target is None:
        raise ValueError(
            f"relation {spec.name}.{rel_name}: the foreign key needs {rel.target!r}, which is"
            " not among the entities given to this backend"
        )
    return target


def _foreign_key(
    spec: EntitySpec[Any], rel: Relation, target: EntitySpec[Any], schema: str | None
) -> sa.ForeignKeyConstraint:
    assert rel.on_delete is not None, "only enforced relations are foreign keys"
    prefix = f"{schema}." if schema else ""
    return sa.ForeignKeyConstraint(
        [rel.local_field],
        [f"{prefix}{target.collection}.{target.id_field}"],
        name=foreign_key_name(spec, rel),
        ondelete=ON_DELETE_SQL[rel.on_delete],
    )


def foreign_key_name(spec: EntitySpec[Any], rel: Relation) -> str:
    return constraint_name("fk", spec.collection, rel.local_field)


def unique_fields(table: sa.Table) -> dict[str, tuple[str, ...]]:
    """Constraint or unique index name -> the fields it keeps unique (together)."""
    fields = {str(table.primary_key.name): tuple(c.name for c in table.primary_key.columns)}
    for index in table.indexes:
        if index.unique:
            fields[str(index.name)] = tuple(c.name for c in index.columns)
    return fields


def constraint_name(prefix: str, table: str, field: str | None = None) -> str:
    name = f"{prefix}_{table}" + (f"_{field}" if field else "")
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER - 9]}_{digest}"


def _column(spec: EntitySpec[Any], info: FieldInfo) -> sa.Column[Any]:
    is_key = info.name == spec.id_field
    nullable = not is_key and (info.optional or info.kind is Kind.ANY)
    if info.name == spec.version_field:
        return sa.Column(info.name, sa.BigInteger(), nullable=False)
    return sa.Column(info.name, column_type(info), nullable=nullable)


def column_type(info: FieldInfo) -> TypeEngine[Any]:
    kind = info.kind
    if kind is Kind.ENUM:
        return _enum_type(info)
    simple = _SIMPLE_TYPES.get(kind)
    if simple is not None:
        return simple()
    return JSONB(none_as_null=True)


_SIMPLE_TYPES: dict[Kind, Callable[[], TypeEngine[Any]]] = {
    Kind.STR: lambda: sa.Text(collation=TEXT_COLLATION),
    Kind.INT: sa.BigInteger,
    Kind.FLOAT: sa.Double,
    Kind.DECIMAL: lambda: sa.Numeric(asdecimal=True),
    Kind.BOOL: sa.Boolean,
    Kind.DATETIME: lambda: sa.DateTime(timezone=True),
    Kind.DATE: sa.Date,
    Kind.UUID: lambda: sa.Uuid(as_uuid=True),
}


def enum_storage(info: FieldInfo) -> Kind:
    """How an enum is stored: by its text value, its integer value, or as JSON."""
    values = [member.value for member in info.python_type]
    if all(isinstance(v, str) for v in values):
        return Kind.STR
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return Kind.INT
    return Kind.ANY


def _enum_type(info: FieldInfo) -> TypeEngine[Any]:
    storage = enum_storage(info)
    if storage is Kind.STR:
        return sa.Text(collation=TEXT_COLLATION)
    if storage is Kind.INT:
        return sa.BigInteger()
    return JSONB(none_as_null=True)


# --- values at the edge ----------------------------------------------------------------------


def to_db(info: FieldInfo, value: Any) -> Any:
    """One record value as its column expects it."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return value.value
    if info.kind is Kind.DATETIME and isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_record(value)
    return value


def to_row(spec: EntitySpec[Any], record: Mapping[str, Any]) -> dict[str, Any]:
    fields = spec.schema.fields
    return {name: to_db(info, record.get(name)) for name, info in fields.items()}


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback: rich values inside JSONB columns, revived by the codec."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        items = list(value)
        try:
            return sorted(items)
        except TypeError:
            return items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_record(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(default=json_default, separators=(",", ":"))


def json_dumps(value: Any) -> str:
    """A JSONB value's text (one encoder for every call: ``json.dumps`` with options builds
    a new one each time). Empty lists, sets and dicts, the commonest values of such columns,
    skip the encoder: it costs a microsecond even for those."""
    if not value:
        empty = _EMPTY_JSON.get(type(value))
        if empty is not None:
            return empty
    return _ENCODER.encode(value)


_EMPTY_JSON: dict[type[Any], str] = {
    list: "[]",
    tuple: "[]",
    set: "[]",
    frozenset: "[]",
    dict: "{}",
}
