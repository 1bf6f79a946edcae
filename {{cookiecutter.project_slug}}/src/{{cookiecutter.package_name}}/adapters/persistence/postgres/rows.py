"""Rows to entities and entities to statement arguments, without per-call dispatch.

asyncpg already returns most columns as the field's exact type (text, bigint, double,
numeric, boolean, timestamptz, date), and every JSONB value freshly decoded, so a row becomes
an entity with work only on the fields that need it: enums, UUIDs (asyncpg's own subclass
becomes a plain ``uuid.UUID``), and JSON values whose items must be revived (``codec``).
Nothing in a decoded row is shared with anything else, so lists and dicts are not copied.
"""

from __future__ import annotations

import enum
import operator
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, overload

from ....ports.schema import FieldInfo, Kind
from ..codec import revive, takes_fields_by_position
from ..registry import EntitySpec
from .schema import enum_storage, to_db

T = TypeVar("T")

Fix = Callable[[Any], Any]

# Kinds whose JSON items come back as the item's exact type (checked per item anyway).
_JSON_EXACT = {Kind.STR: str, Kind.INT: int, Kind.BOOL: bool}


def _fix(info: FieldInfo) -> Fix | None:
    """What a decoded column value needs to become the field's value (None: nothing)."""
    kind = info.kind
    if kind in (Kind.STR, Kind.INT, Kind.FLOAT, Kind.BOOL, Kind.DECIMAL, Kind.DATE):
        return None
    if kind is Kind.DATETIME:  # TIMESTAMPTZ: asyncpg returns it aware (UTC), as the field wants
        return None
    if kind is Kind.UUID:
        return lambda value: value if type(value) is uuid.UUID else uuid.UUID(str(value))
    if kind is Kind.ENUM and enum_storage(info) is not Kind.ANY:
        return _enum_reader(info.python_type)
    if kind in (Kind.DICT, Kind.ANY):
        return None  # fresh from the JSON decoder: nothing to copy
    item = info.item
    exact = {_JSON_EXACT[item.kind]} if item is not None and item.kind in _JSON_EXACT else None
    python_type = info.python_type
    is_tuple = python_type is tuple or getattr(python_type, "__origin__", None) is tuple
    if kind is Kind.LIST and exact is not None and not is_tuple:
        return lambda value: (
            value if type(value) is list and set(map(type, value)) <= exact else revive(info, value)
        )
    if kind is Kind.SET and exact is not None:
        return lambda value: (
            set(value)
            if type(value) is list and set(map(type, value)) <= exact
            else revive(info, value)
        )
    return lambda value: revive(info, value)


def _writer(info: FieldInfo) -> Fix | None:
    """What a record value needs to become its column's argument (``to_db``; None: nothing).
    Text, numbers, dates, UUIDs, lists and dicts go as they are; JSON values are encoded by
    the connection's codec."""
    kind = info.kind
    if kind is Kind.ENUM:
        return lambda value: value.value if isinstance(value, enum.Enum) else value
    if kind in (Kind.DATETIME, Kind.ANY, Kind.NESTED):
        return lambda value: to_db(info, value)
    return None


def _enum_reader(enum_type: Any) -> Fix:
    """A stored value to its member: a dict lookup, the enum's own call for anything else."""
    members = {member.value: member for member in enum_type}

    def read(value: Any) -> Any:
        member = members.get(value)
        return member if member is not None else enum_type(value)

    return read


class RowCodec:
    """One table's rows: ``read`` a row (columns in ``names`` order) into an entity, ``args``
    of an entity's record for an ``INSERT`` of those columns."""

    def __init__(self, spec: EntitySpec[T], names: Sequence[str]) -> None:
        fields = spec.schema.fields
        self.names = tuple(names)
        self._entity: Callable[..., T] = spec.entity
        self._fixes = tuple(
            (index, name, fix)
            for index, name in enumerate(self.names)
            if (fix := _fix(fields[name])) is not None
        )
        self._writers = tuple(
            (index, write)
            for index, name in enumerate(self.names)
            if (write := _writer(fields[name])) is not None
        )
        self._pick = operator.itemgetter(*self.names)
        self._fields = tuple(fields)
        self._field_order = self.names == self._fields
        self._by_position = takes_fields_by_position(spec.entity, self.names)

    def read(self, row: Iterable[Any]) -> Any:
        if self._by_position:
            if not self._fixes:
                return self._entity(*row)
            values = list(row)
            for index, _, fix in self._fixes:
                value = values[index]
                if value is not None:
                    values[index] = fix(value)
            return self._entity(*values)
        named = dict(zip(self.names, row, strict=True))
        for _, name, fix in self._fixes:
            value = named[name]
            if value is not None:
                named[name] = fix(value)
        return self._entity(**named)

    def args(self, record: Mapping[str, Any]) -> tuple[Any, ...]:
        """The record's values in column order, as the columns take them (``to_db``)."""
        try:
            picked = self._pick(record)
        except KeyError:
            picked = tuple(record.get(name) for name in self.names)
        values = list(picked) if len(self.names) > 1 else [picked]
        for index, write in self._writers:
            value = values[index]
            if value is not None:
                values[index] = write(value)
        return tuple(values)

    def args_of(self, values: list[Any]) -> tuple[Any, ...]:
        """``args`` of a record given as its values in field order (``DomainPass.rebuild``'s);
        the list is the caller's to give away (it is changed in place)."""
        if not self._field_order:
            return self.args(dict(zip(self._fields, values, strict=True)))
        for index, write in self._writers:
            value = values[index]
            if value is not None:
                values[index] = write(value)
        return tuple(values)


class RowsView(Sequence[dict[str, Any]]):
    """Rows' values as dicts by column, made only when read (to name a refused value)."""

    def __init__(self, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self._names = names
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [dict(zip(self._names, row, strict=True)) for row in self._rows[index]]
        return dict(zip(self._names, self._rows[index], strict=True))


def as_dict(row: Any) -> dict[str, Any]:
    """An asyncpg record as a plain dict (``in`` on a record tests its values, not its keys)."""
    return dict(row.items())
