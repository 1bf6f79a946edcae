"""Entities to records and back, losslessly.

A *record* is a plain dict of rich Python values (datetime, Decimal, UUID, Enum, set, nested
dicts for nested dataclasses). Each backend maps those to its native types at its own edge;
reading a record back revives every value from the entity's annotations, so a
load-modify-save round trip never turns a number into a string or a date into text.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Generic, TypeVar

from ...ports.schema import EntitySchema, FieldInfo, Kind, coerce, schema_of

T = TypeVar("T")

Reviver = Callable[[Any], Any]  # a stored, non-null value -> the field's type

# Values that are already plain: immutable, nothing to walk into.
_ATOMIC: frozenset[type[Any]] = frozenset(
    {str, int, float, bool, type(None), Decimal, dt.datetime, dt.date, uuid.UUID}
)
_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}
_BUILDERS: dict[type[Any], Callable[[dict[str, Any]], Any]] = {}


def to_record(entity: Any) -> dict[str, Any]:
    """A deep, independent dict of the entity's fields (nested dataclasses become dicts)."""
    cls = type(entity)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(entity))
    return {name: _plain(getattr(entity, name)) for name in names}


def _plain(value: Any) -> Any:
    if type(value) in _ATOMIC:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_record(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return {_plain(v) for v in value}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def from_record(entity: type[T], record: dict[str, Any]) -> T:
    """Rebuild an entity; missing keys take the dataclass default, unknown keys are ignored.

    The entity shares no mutable value with ``record`` (lists, sets and dicts are rebuilt).
    """
    built: T = _builder(schema_of(entity))(record)
    return built


def revive(info: FieldInfo, value: Any) -> Any:
    """One stored value back to the field's declared type."""
    return None if value is None else _reviver(info)(value)


# Reviving is compiled once per entity type: each field gets the one function its kind needs,
# with a pass-through for values that already have the exact type (what every driver returns
# for most columns), so reading a row does no per-field dispatch on the kind.


def _builder(schema: EntitySchema) -> Callable[[dict[str, Any]], Any]:
    cached = _BUILDERS.get(schema.entity)
    if cached is not None:
        return cached
    plan = tuple((name, _reviver(info)) for name, info in schema.fields.items())
    entity = schema.entity

    def build(record: dict[str, Any]) -> Any:
        kwargs: dict[str, Any] = {}
        for name, revive_value in plan:
            if name in record:
                value = record[name]
                kwargs[name] = None if value is None else revive_value(value)
        return entity(**kwargs)

    _BUILDERS[schema.entity] = build
    return build


def _reviver(info: FieldInfo) -> Reviver:
    kind = info.kind
    if kind is Kind.NESTED and info.nested is not None:
        build = _builder(info.nested)
        return lambda value: build(value) if isinstance(value, dict) else value
    if kind in (Kind.LIST, Kind.SET):
        item = _item_reviver(info.item)
        if kind is Kind.SET:
            return lambda value: {item(v) for v in value}
        if _is_tuple(info):
            return lambda value: tuple([item(v) for v in value])
        return lambda value: [item(v) for v in value]
    if kind in (Kind.DICT, Kind.ANY):
        return copy.deepcopy
    exact = info.python_type if kind is Kind.ENUM else _EXACT.get(kind)

    def slow(value: Any) -> Any:
        return coerce(info, value)

    if exact is None:
        return slow
    if kind is Kind.DATETIME:
        return lambda value: (
            value if type(value) is dt.datetime and value.tzinfo is not None else slow(value)
        )
    return lambda value: value if type(value) is exact else slow(value)


def _item_reviver(info: FieldInfo | None) -> Reviver:
    if info is None:
        return copy.deepcopy
    revive_item = _reviver(info)
    return lambda value: None if value is None else revive_item(value)


# The exact types ``coerce`` returns unchanged for each scalar kind.
_EXACT: dict[Kind, type[Any]] = {
    Kind.STR: str,
    Kind.INT: int,
    Kind.FLOAT: float,
    Kind.BOOL: bool,
    Kind.DECIMAL: Decimal,
    Kind.DATETIME: dt.datetime,
    Kind.DATE: dt.date,
    Kind.UUID: uuid.UUID,
}


def _is_tuple(info: FieldInfo) -> bool:
    python_type = info.python_type
    return python_type is tuple or getattr(python_type, "__origin__", None) is tuple


class EntityCodec(Generic[T]):
    """Codec bound to one entity type."""

    def __init__(self, entity: type[T]) -> None:
        self.entity = entity
        self.schema = schema_of(entity)

    def to_record(self, entity: T) -> dict[str, Any]:
        return to_record(entity)

    def from_record(self, record: dict[str, Any]) -> T:
        return from_record(self.entity, record)
