"""Python values to DynamoDB attribute values and back, losslessly.

Typed by the entity's schema when there is one (so a ``Decimal`` field comes back a ``Decimal``,
a ``float`` a ``float``), and by the value itself otherwise (generic tables):

- numbers are ``N``: floats go through their shortest ``repr`` (``0.1`` stays ``0.1``), NaN and
  infinities are refused; untyped numbers come back as ``int`` when integral, ``float`` when the
  float prints back the same digits, ``Decimal`` otherwise;
- datetimes are ISO 8601 strings normalised to UTC with microseconds, so string order is time
  order and every stored value compares with every other; dates are ``YYYY-MM-DD``;
- enums store their value, UUIDs their text form, ``None`` is ``NULL``;
- sets of strings/numbers are ``SS``/``NS`` (an empty set, which DynamoDB cannot store, is an
  empty list and reads back as an empty set for a set field); lists are ``L``, dicts and nested
  dataclasses ``M``.

Index keys (:func:`index_key`) are one typed string per scalar value (``s:``/``n:``/``b:``
prefixes), so empty strings, booleans and numbers can all be GSI and uniqueness keys.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ....ports.errors import InvalidInput
from ....ports.schema import FieldInfo, Kind

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]

NULL: AttributeValue = {"NULL": True}


def format_datetime(value: dt.datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _number(value: int | float | Decimal) -> str:
    if isinstance(value, int):
        return str(value)
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise InvalidInput(f"DynamoDB cannot store the number {value!r}")
    return str(number)


def plain(value: Any) -> Any:
    """Nested dataclasses as dicts (what ``codec.to_record`` does for whole entities)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _scalar(value: Any) -> Any:
    """Enum/UUID/datetime/date to the primitive they are stored as."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _field(info: FieldInfo | None, name: str) -> FieldInfo | None:
    if info is None:
        return None
    if info.nested is not None:
        return info.nested.fields.get(name)
    return None


def to_av(value: Any, info: FieldInfo | None = None) -> AttributeValue:
    value = _scalar(plain(value))
    if value is None:
        return dict(NULL)
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        result: dict[str, AttributeValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"DynamoDB map keys must be strings, not {key!r}")
            result[key] = to_av(item, _field(info, key))
        return {"M": result}
    item_info = info.item if info is not None else None
    if isinstance(value, set | frozenset):
        members = [_scalar(v) for v in value]
        if members and all(isinstance(m, str) for m in members):
            return {"SS": sorted(members)}
        if members and all(
            isinstance(m, int | float | Decimal) and not isinstance(m, bool) for m in members
        ):
            return {"NS": [_number(m) for m in members]}
        return {"L": [to_av(v, item_info) for v in value]}
    if isinstance(value, list | tuple):
        return {"L": [to_av(v, item_info) for v in value]}
    raise InvalidInput(f"DynamoDB cannot store a value of type {type(value).__name__}")


def _untyped_number(text: str) -> int | float | Decimal:
    number = Decimal(text)
    if number == number.to_integral_value() and "." not in text and "e" not in text.lower():
        return int(number)
    if number == number.to_integral_value() and abs(number) < 2**53:
        return float(number)
    as_float = float(number)
    try:
        if Decimal(repr(as_float)) == number:
            return as_float
    except InvalidOperation:  # pragma: no cover - repr of a float is always a decimal
        pass
    return number


def _typed_number(text: str, info: FieldInfo | None) -> Any:
    kind = info.kind if info is not None else None
    if kind is Kind.DECIMAL:
        return Decimal(text)
    if kind is Kind.FLOAT:
        return float(text)
    if kind is Kind.INT:
        return int(Decimal(text))
    return _untyped_number(text)


def from_av(av: Mapping[str, Any], info: FieldInfo | None = None) -> Any:
    if "S" in av:
        return av["S"]
    if "N" in av:
        return _typed_number(av["N"], info)
    if "BOOL" in av:
        return bool(av["BOOL"])
    if "NULL" in av:
        return None
    if "M" in av:
        return {k: from_av(v, _field(info, k)) for k, v in av["M"].items()}
    item_info = info.item if info is not None else None
    if "L" in av:
        return [from_av(v, item_info) for v in av["L"]]
    if "SS" in av:
        return set(av["SS"])
    if "NS" in av:
        return {_typed_number(v, item_info) for v in av["NS"]}
    if "B" in av:
        return bytes(av["B"])
    if "BS" in av:
        return {bytes(v) for v in av["BS"]}
    raise ValueError(f"unknown DynamoDB attribute value {av!r}")


def index_key(value: Any) -> str | None:
    """One typed string for a scalar (GSI and uniqueness keys); None when not indexable."""
    value = _scalar(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return "b:1" if value else "b:0"
    if isinstance(value, int | float | Decimal):
        number = Decimal(_number(value))
        if number == 0:
            return "n:0"
        return "n:" + format(number.normalize(), "f")
    if isinstance(value, str):
        return "s:" + value
    return None


def plain_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """An item of a schemaless table as plain Python values."""
    return {name: from_av(av) for name, av in item.items()}


def to_item(data: Mapping[str, Any]) -> Item:
    return {name: to_av(value) for name, value in data.items()}
