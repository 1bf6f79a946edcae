"""What the kit knows about an entity's fields, read once from its dataclass annotations.

Every adapter and the query parser share this one description, so a field name, a dotted path
into a nested dataclass, or a value's type means the same thing on every backend.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import types
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, Inexact, InvalidOperation
from typing import Any


class Kind(enum.StrEnum):
    """What a field holds, read from its annotation; decides how each backend stores, compares and
    sorts it."""

    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DECIMAL = "decimal"
    DATETIME = "datetime"
    DATE = "date"
    UUID = "uuid"
    ENUM = "enum"
    LIST = "list"
    SET = "set"
    DICT = "dict"
    NESTED = "nested"
    ANY = "any"


SCALAR_KINDS = frozenset(
    {
        Kind.STR,
        Kind.INT,
        Kind.FLOAT,
        Kind.BOOL,
        Kind.DECIMAL,
        Kind.DATETIME,
        Kind.DATE,
        Kind.UUID,
        Kind.ENUM,
    }
)


@dataclass(frozen=True)
class FieldInfo:
    """One field of an entity: its kind, Python type, whether None is allowed, and its element or
    nested schema."""

    name: str
    kind: Kind
    python_type: Any
    optional: bool
    item: FieldInfo | None = None  # element of a list/set
    nested: EntitySchema | None = None  # a nested dataclass

    @property
    def sortable(self) -> bool:
        """Scalars sort; lists, sets, dicts and nested values do not."""
        return self.kind in SCALAR_KINDS


@dataclass(frozen=True)
class EntitySchema:
    """The fields of an entity dataclass, as every adapter and the query parser read them."""

    entity: type[Any]
    fields: dict[str, FieldInfo]
    # The parsed ``field == value`` conditions queries asked for lately (ports.query fills it):
    # parsing and coercing one costs more than the memory store's whole indexed lookup.
    equalities: dict[tuple[str, type[Any], Any], Any] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    def resolve(self, path: str) -> FieldInfo | None:
        """The field at a dotted path (``address.city``), or None when there is none."""
        head, _, rest = path.partition(".")
        info = self.fields.get(head)
        if info is None or not rest:
            return info
        if info.nested is not None:
            return info.nested.resolve(rest)
        if info.kind in (Kind.DICT, Kind.ANY):
            return FieldInfo(path, Kind.ANY, Any, True)
        return None


_SCHEMAS: dict[type[Any], EntitySchema] = {}


def schema_of(entity: type[Any]) -> EntitySchema:
    """The (cached) schema of a dataclass."""
    cached = _SCHEMAS.get(entity)
    if cached is not None:
        return cached
    if not dataclasses.is_dataclass(entity):
        raise TypeError(f"{entity!r} is not a dataclass")
    hints = typing.get_type_hints(entity)
    fields = {
        f.name: _field_info(f.name, hints[f.name])
        for f in dataclasses.fields(entity)
        if f.name in hints
    }
    schema = EntitySchema(entity, fields)
    _SCHEMAS[entity] = schema
    return schema


def _field_info(name: str, annotation: Any) -> FieldInfo:
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        annotation = members[0] if len(members) == 1 else Any
        origin = typing.get_origin(annotation)
    kind, item, nested = _classify(annotation, origin)
    return FieldInfo(name, kind, annotation, optional, item, nested)


def _classify(annotation: Any, origin: Any) -> tuple[Kind, FieldInfo | None, EntitySchema | None]:
    if origin in (list, tuple, typing.Sequence) or annotation in (list, tuple):
        args = typing.get_args(annotation)
        return Kind.LIST, _field_info("item", args[0]) if args else None, None
    if origin in (set, frozenset) or annotation in (set, frozenset):
        args = typing.get_args(annotation)
        return Kind.SET, _field_info("item", args[0]) if args else None, None
    if origin is dict or annotation is dict:
        return Kind.DICT, None, None
    if isinstance(annotation, type):
        if dataclasses.is_dataclass(annotation):
            return Kind.NESTED, None, schema_of(annotation)
        for python_type, kind in _SCALARS:
            if issubclass(annotation, python_type):
                return kind, None, None
    return Kind.ANY, None, None


# Order matters: bool before int, enum before str, datetime before date.
_SCALARS: tuple[tuple[type[Any], Kind], ...] = (
    (bool, Kind.BOOL),
    (enum.Enum, Kind.ENUM),
    (int, Kind.INT),
    (float, Kind.FLOAT),
    (Decimal, Kind.DECIMAL),
    (dt.datetime, Kind.DATETIME),
    (dt.date, Kind.DATE),
    (uuid.UUID, Kind.UUID),
    (str, Kind.STR),
)


# What every backend can hold and compare alike (PostgreSQL BIGINT, BSON int64 and Decimal128,
# DynamoDB numbers, Python's datetime range): a value outside these is refused before any
# driver sees it, with the same error on every backend.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DECIMAL_DIGITS = 34
# DynamoDB numbers: magnitudes from 1e-130 to below 1e126 (or zero).
MIN_EXPONENT, MAX_EXPONENT = -130, 125


_NUL_TEXT = "text must not contain NUL characters"
_NOT_FINITE = "numbers must be finite"


def unstorable(value: Any) -> str | None:
    """Why ``value`` cannot be stored or compared the same way on every backend, or None.

    Walks lists, sets, dicts and nested dataclasses' records.
    """
    kind = type(value)
    if kind is str:  # the commonest value first
        return _NUL_TEXT if "\x00" in value else None
    # Every write checks every value: each type goes straight to its own test.
    check = _CHECKS.get(kind) or _check_for(kind)
    return check(value)


def _check_for(kind: type[Any]) -> Callable[[Any], str | None]:
    """The test of a type met for the first time (an enum, a subclass): its first base's in
    ``_BASE_CHECKS`` order (bool before int, datetime before date), kept for the next value."""
    check = next((c for base, c in _BASE_CHECKS.items() if issubclass(kind, base)), None)
    if check is None:
        check = _fields_problem if dataclasses.is_dataclass(kind) else _fine
    _CHECKS[kind] = check
    return check


def check_of(kind: type[Any]) -> Callable[[Any], str | None] | None:
    """The test ``unstorable`` runs on a value of this type, or None when every value of it is
    fine (None, booleans, dates, UUIDs, plain enums)."""
    check = _CHECKS.get(kind) or _check_for(kind)
    return None if check is _fine else check


def _fine(_value: Any) -> None:
    return None


def text_problem(value: str) -> str | None:
    return _NUL_TEXT if "\x00" in value else None


def _int_problem(value: int) -> str | None:
    return None if INT64_MIN <= value <= INT64_MAX else "integers must fit in 64 bits"


def _float_problem(value: float) -> str | None:
    if not math.isfinite(value):
        return _NOT_FINITE
    if not value or 1e-129 < abs(value) < 1e125:  # well inside the range: no exact check needed
        return None
    return _magnitude_problem(Decimal(value))


def _datetime_problem(value: dt.datetime) -> str | None:
    if value.tzinfo is not None:
        try:
            value.astimezone(dt.UTC)
        except OverflowError:
            return "dates must fall between years 1 and 9999 in UTC"
    return None


def _items_problem(values: Any) -> str | None:
    for item in values:
        if (problem := unstorable(item)) is not None:
            return problem
    return None


def _fields_problem(value: Any) -> str | None:
    """A nested dataclass's values, as its record would hold them."""
    for field in dataclasses.fields(value):
        if (problem := unstorable(getattr(value, field.name))) is not None:
            return problem
    return None


def _dict_problem(value: dict[Any, Any]) -> str | None:
    for key, item in value.items():
        problem = unstorable(key) if isinstance(key, str) else "keys must be text"
        problem = problem or unstorable(item)
        if problem is not None:
            return problem
    return None


def _decimal_problem(value: Decimal) -> str | None:
    if not value.is_finite():
        return _NOT_FINITE
    try:
        _ROUNDED_TO_LIMIT.plus(value)  # exact unless more significant digits than the limit
    except Inexact:
        return f"decimals are limited to {MAX_DECIMAL_DIGITS} significant digits"
    return _magnitude_problem(value) if value else None


# Rounding to the limit loses nothing exactly when a value has no more significant digits
# (trailing zeros are not significant); exponents are unbounded here, magnitudes are checked
# on their own. Not ``normalize()``: it rounds to the default context's 28 digits.
_ROUNDED_TO_LIMIT = Context(prec=MAX_DECIMAL_DIGITS, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact])


def _magnitude_problem(value: Decimal) -> str | None:
    if not MIN_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
        return "numbers must lie between 1e-130 and 1e125 in magnitude"
    return None


_BASE_CHECKS: dict[type[Any], Callable[[Any], str | None]] = {
    type(None): _fine,
    bool: _fine,
    int: _int_problem,
    float: _float_problem,
    str: text_problem,
    Decimal: _decimal_problem,
    dt.datetime: _datetime_problem,
    dt.date: _fine,
    uuid.UUID: _fine,
    list: _items_problem,
    tuple: _items_problem,
    set: _items_problem,
    frozenset: _items_problem,
    dict: _dict_problem,
}
_CHECKS = dict(_BASE_CHECKS)  # and every other type met so far


def coerce(info: FieldInfo, value: Any) -> Any:
    """Turn a JSON-ish value (as it arrives in a query or a cursor) into the field's type.

    Raises ValueError with a readable message when the value cannot be that type.
    """
    if value is None:
        return None
    kind = info.kind
    if (
        kind in (Kind.LIST, Kind.SET)
        and info.item is not None
        and not isinstance(value, list | tuple | set | frozenset)
    ):
        # ``contains`` on a list field compares against one element.
        return coerce(info.item, value)
    try:
        coerced = _COERCERS[kind](info, value)
    except (ValueError, TypeError, InvalidOperation, KeyError, OverflowError) as exc:
        raise ValueError(f"{value!r} is not a valid {kind.value} for {info.name!r}") from exc
    problem = unstorable(coerced)
    if problem is not None:
        raise ValueError(f"{info.name!r}: {problem}")
    return coerced


def _to_bool(_: FieldInfo, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(value)


def _to_int(_: FieldInfo, value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    if isinstance(value, Decimal) and value != value.to_integral_value():
        raise ValueError(value)
    return int(value)


def _to_float(_: FieldInfo, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def _to_decimal(_: FieldInfo, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(value)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _to_datetime(_: FieldInfo, value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
    else:
        raise ValueError(value)
    # Naive datetimes are taken as UTC so comparisons across backends agree.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _to_date(_: FieldInfo, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    raise ValueError(value)


def _to_uuid(_: FieldInfo, value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _to_enum(info: FieldInfo, value: Any) -> enum.Enum:
    enum_type: type[enum.Enum] = info.python_type
    return value if isinstance(value, enum_type) else enum_type(value)


def _to_str(_: FieldInfo, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(value)
    return value


def _to_collection(info: FieldInfo, value: Any) -> Any:
    if not isinstance(value, list | tuple | set | frozenset):
        raise ValueError(value)
    items = [coerce(info.item, v) if info.item else v for v in value]
    return set(items) if info.kind is Kind.SET else items


def _as_is(_: FieldInfo, value: Any) -> Any:
    return value


_COERCERS: dict[Kind, typing.Callable[[FieldInfo, Any], Any]] = {
    Kind.STR: _to_str,
    Kind.INT: _to_int,
    Kind.FLOAT: _to_float,
    Kind.BOOL: _to_bool,
    Kind.DECIMAL: _to_decimal,
    Kind.DATETIME: _to_datetime,
    Kind.DATE: _to_date,
    Kind.UUID: _to_uuid,
    Kind.ENUM: _to_enum,
    Kind.LIST: _to_collection,
    Kind.SET: _to_collection,
    Kind.DICT: _as_is,
    Kind.NESTED: _as_is,
    Kind.ANY: _as_is,
}
