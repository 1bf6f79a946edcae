"""Entities to records and back, losslessly.

A *record* is a plain dict of rich Python values (datetime, Decimal, UUID, Enum, set, nested
dicts for nested dataclasses). Each backend maps those to its native types at its own edge;
reading a record back revives every value from the entity's annotations, so a
load-modify-save round trip never turns a number into a string or a date into text.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Generic, TypeVar

from ...ports.schema import EntitySchema, FieldInfo, Kind, coerce, schema_of

T = TypeVar("T")


def to_record(entity: Any) -> dict[str, Any]:
    """A deep, independent dict of the entity's fields (nested dataclasses become dicts)."""
    return {f.name: _plain(getattr(entity, f.name)) for f in dataclasses.fields(entity)}


def _plain(value: Any) -> Any:
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
    """Rebuild an entity; missing keys take the dataclass default, unknown keys are ignored."""
    built: T = _build(schema_of(entity), record)
    return built


def _build(schema: EntitySchema, record: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for name, info in schema.fields.items():
        if name in record:
            kwargs[name] = revive(info, record[name])
    return schema.entity(**kwargs)


def revive(info: FieldInfo, value: Any) -> Any:
    """One stored value back to the field's declared type."""
    if value is None:
        return None
    if info.kind is Kind.NESTED and info.nested is not None:
        return _build(info.nested, value) if isinstance(value, dict) else value
    if info.kind in (Kind.LIST, Kind.SET):
        items = [revive(info.item, v) if info.item else copy.deepcopy(v) for v in value]
        if info.kind is Kind.SET:
            return set(items)
        return tuple(items) if _is_tuple(info) else items
    if info.kind in (Kind.DICT, Kind.ANY):
        return copy.deepcopy(value)
    return coerce(info, value)


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
