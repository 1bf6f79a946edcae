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
import enum
import inspect
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Generic, TypeVar

from ...ports.schema import SCALAR_KINDS, EntitySchema, FieldInfo, Kind, coerce, schema_of

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
    return {name: plain(getattr(entity, name)) for name in names}


def plain(value: Any) -> Any:
    kind = type(value)
    if kind in _ATOMIC or kind in _OPAQUE:
        return value
    if kind is list:
        return [plain(v) for v in value]
    if kind is dict:
        return {k: plain(v) for k, v in value.items()}
    if kind is set:
        return {plain(v) for v in value}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_record(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return {plain(v) for v in value}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    _OPAQUE.add(kind)  # the checks above depend on the type alone: skipped next time
    return value


# Other types found to hold nothing to walk into (enums, ...).
_OPAQUE: set[type[Any]] = set()


def is_atomic(kind: type[Any]) -> bool:
    """Whether every value of this type is immutable and passes ``plain`` as it is (scalars
    and enum members): nothing to copy."""
    return kind in _ATOMIC or issubclass(kind, enum.Enum)


def takes_fields_by_position(entity: Any, names: Sequence[str]) -> bool:
    """Whether the constructor takes exactly these fields, in this order, by position (a
    dataclass whose fields all are ``init`` and not keyword-only): passing 18 values by
    position costs a fraction of passing them by name."""
    try:
        parameters = inspect.signature(entity).parameters.values()
    except (TypeError, ValueError):
        return False
    by_position = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in by_position] == list(names) and all(
        p.kind in by_position for p in parameters
    )


def from_record(entity: type[T], record: dict[str, Any]) -> T:
    """Rebuild an entity; missing keys take the dataclass default, unknown keys are ignored.

    The entity shares no mutable value with ``record`` (lists, sets and dicts are rebuilt).
    """
    built: T = _builder(schema_of(entity))(record)
    return built


def revive(info: FieldInfo, value: Any) -> Any:
    """One stored value back to the field's declared type."""
    return None if value is None else reviver(info)(value)


# Reviving is compiled once per entity type: each field gets the one function its kind needs,
# with a pass-through for values that already have the exact type (what every driver returns
# for most columns), so reading a row does no per-field dispatch on the kind.


def _builder(schema: EntitySchema) -> Callable[[dict[str, Any]], Any]:
    cached = _BUILDERS.get(schema.entity)
    if cached is not None:
        return cached
    plan = tuple((name, reviver(info)) for name, info in schema.fields.items())
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


def reviver(info: FieldInfo) -> Reviver:
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
        return plain_copy
    exact = info.python_type if kind is Kind.ENUM else EXACT_TYPES.get(kind)

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
    revive_item = reviver(info)
    return lambda value: None if value is None else revive_item(value)


# The exact types ``coerce`` returns unchanged for each scalar kind.
EXACT_TYPES: dict[Kind, type[Any]] = {
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


# --- records an in-process store wrote itself ------------------------------------------------


def own_record_reader(entity: type[T]) -> Callable[[dict[str, Any]], T]:
    """``from_record`` for records ``to_record`` made, in this process, from ``entity`` instances
    built by its constructor (what an in-process store holds). Their scalars already have the
    field's type and are immutable, so they are passed as they are, with no per-field call;
    lists, sets, dicts and nested values are rebuilt, so the entity still shares nothing
    mutable with the record."""
    cached = _OWN_READERS.get(entity)
    if cached is not None:
        return cached
    fixes = tuple(
        (name, _own_reviver(info))
        for name, info in schema_of(entity).fields.items()
        if info.kind not in SCALAR_KINDS
    )

    def read(record: dict[str, Any]) -> T:
        kwargs = record.copy()
        for name, revive_value in fixes:
            value = kwargs.get(name)
            if value is not None:
                kwargs[name] = revive_value(value)
        return entity(**kwargs)

    _OWN_READERS[entity] = read
    return read


_OWN_READERS: dict[type[Any], Callable[[dict[str, Any]], Any]] = {}


def _own_reviver(info: FieldInfo) -> Reviver:
    kind = info.kind
    if kind in (Kind.LIST, Kind.SET) and info.item is not None and info.item.kind in SCALAR_KINDS:
        return set if kind is Kind.SET else tuple if _is_tuple(info) else list
    if kind is Kind.NESTED and info.nested is not None:
        read = own_record_reader(info.nested.entity)
        return lambda value: read(value) if isinstance(value, dict) else value
    if kind in (Kind.DICT, Kind.ANY):
        return plain_copy
    return reviver(info)


def is_plain(value: Any) -> bool:
    """Whether ``value`` holds only immutable leaves (scalars, enums) in dicts, lists, sets."""
    kind = type(value)
    if kind in _ATOMIC or isinstance(value, enum.Enum):
        return True
    if kind is dict:
        return all(map(is_plain, value.values()))
    if kind is list or kind is set:
        return all(map(is_plain, value))
    return False


def plain_copy(value: Any) -> Any:
    """A deep copy of a ``to_record`` value that shares its immutable leaves: new dicts, lists
    and sets all the way down; any other object is deep-copied."""
    kind = type(value)
    if kind is dict:
        return {k: plain_copy(v) for k, v in value.items()} if value else {}
    if kind in _ATOMIC or isinstance(value, enum.Enum):
        return value
    if kind is list:
        return [plain_copy(v) for v in value]
    if kind is set:
        return {plain_copy(v) for v in value}
    return copy.deepcopy(value)


class EntityCodec(Generic[T]):
    """Codec bound to one entity type."""

    def __init__(self, entity: type[T]) -> None:
        self.entity = entity
        self.schema = schema_of(entity)

    def to_record(self, entity: T) -> dict[str, Any]:
        return to_record(entity)

    def from_record(self, record: dict[str, Any]) -> T:
        return from_record(self.entity, record)
