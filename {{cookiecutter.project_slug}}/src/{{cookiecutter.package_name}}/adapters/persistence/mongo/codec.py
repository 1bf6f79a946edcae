"""Rich Python values to BSON and back.

The kit's records (:mod:`..codec`) hold Decimal, Enum, set, date, UUID and nested dicts; BSON
has no Enum, set or calendar date and only a 128-bit decimal. The mapping, both ways:

==========================  =========================================  =====================
Python                      stored as                                   read back as
==========================  =========================================  =====================
``Decimal``                 ``Decimal128`` (34 significant digits)      ``Decimal``
``Enum``                    its ``value``                               the enum (from the
                                                                        annotation)
``set`` / ``frozenset``     array, sorted when the items are orderable  ``set``
``tuple``                   array                                       list / tuple
``datetime`` (aware)        BSON date (UTC, **millisecond** precision)  aware ``datetime`` UTC
``datetime`` (naive)        taken as UTC, like the query parser does    aware ``datetime`` UTC
``date``                    BSON date at midnight UTC                   ``date``
``UUID``                    binary subtype 4 (``uuidRepresentation``    ``UUID``
                            ``standard``), so it sorts by its bytes
nested dataclass            embedded document                           the dataclass
==========================  =========================================  =====================

A value BSON cannot hold (a Decimal with more than 34 digits, an int beyond 64 bits, a
non-string dict key) is refused with ``InvalidInput`` before anything is written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128

from ....ports.errors import InvalidInput

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


# Types stored and read back as they are (checked by exact type: one set lookup per value).
_AS_IS: frozenset[type[Any]] = frozenset({str, float, bool, type(None), uuid.UUID})


def to_bson(value: Any) -> Any:
    """One rich Python value (or a whole record) as a BSON-safe value."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"document keys must be strings, not {key!r}")
            result[key] = item if type(item) in _AS_IS else to_bson(item)
        return result
    if kind is list:
        return [v if type(v) in _AS_IS else to_bson(v) for v in value]
    if kind is int and _INT64_MIN <= value <= _INT64_MAX:
        return value
    if kind is Decimal:
        return _decimal128(value)
    return _to_bson(value)


def _to_bson(value: Any) -> Any:
    if value is None or isinstance(value, bool | str | float | uuid.UUID):
        return value
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidInput(f"{value} does not fit in a 64-bit integer")
        return value
    if isinstance(value, enum.Enum):
        return to_bson(value.value)
    if isinstance(value, Decimal):
        return _decimal128(value)
    if isinstance(value, dt.datetime):
        # What BSON keeps: milliseconds, so the value returned equals the value read back.
        value = value.replace(microsecond=value.microsecond // 1000 * 1000)
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_bson(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"document keys must be strings, not {key!r}")
            result[key] = to_bson(item)
        return result
    if isinstance(value, set | frozenset):
        items = [to_bson(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, list | tuple):
        return [to_bson(v) for v in value]
    return value  # bytes, ObjectId, Regex... : whatever BSON knows natively


# Decimal128 both ways without bson's digit-by-digit conversions (the same bits and the same
# Decimal): a finite value of at most 34 digits is its sign, its biased exponent and its
# coefficient side by side; anything else goes through bson.
_EXPONENT_BIAS = 6176
_EXPONENT_MAX = 6111
_SPECIAL = 3 << 61  # NaN, infinity, or a coefficient in the form bson reads as zero
_COEFFICIENT = (1 << 113) - 1
_MAX_COEFFICIENT = 10**34 - 1


def _decimal128(value: Decimal) -> Decimal128:
    sign, digits, exponent = value.as_tuple()
    if type(exponent) is int and len(digits) <= 34 and -_EXPONENT_BIAS <= exponent <= _EXPONENT_MAX:
        coefficient = int("".join(map(str, digits)))
        bits = (sign << 127) | ((exponent + _EXPONENT_BIAS) << 113) | coefficient
        return Decimal128.from_bid(bits.to_bytes(16, "little"))
    try:
        return Decimal128(value)
    except (decimal.Inexact, decimal.InvalidOperation) as exc:
        raise InvalidInput(f"{value} does not fit in a 128-bit decimal") from exc


def _decimal(value: Decimal128) -> Decimal:
    bits = int.from_bytes(value.bid, "little")
    high = bits >> 64
    coefficient = bits & _COEFFICIENT
    if high & _SPECIAL == _SPECIAL or coefficient > _MAX_COEFFICIENT:
        return value.to_decimal()
    sign = "-" if high >> 63 else ""
    return Decimal(f"{sign}{coefficient}E{((high >> 49) & 0x3FFF) - _EXPONENT_BIAS}")


# What the driver hands back as it is: no walk, no conversion.
_READ_AS_IS: frozenset[type[Any]] = frozenset({str, int, float, bool, type(None), bytes, uuid.UUID})


def from_bson(value: Any) -> Any:
    """A stored BSON value as plain Python (Decimal128 -> Decimal; the rest is revived from the
    entity's annotations by :func:`..codec.from_record`)."""
    kind = type(value)
    if kind in _READ_AS_IS:
        return value
    if kind is dict:
        return {k: v if type(v) in _READ_AS_IS else from_bson(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _READ_AS_IS else from_bson(v) for v in value]
    if kind is Decimal128:
        return _decimal(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    if isinstance(value, Mapping):
        return {key: from_bson(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_bson(v) for v in value]
    return value
