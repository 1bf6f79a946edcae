"""``unstorable``: what every backend holds alike, checked at the edges of each rule, for the
built-in types (each has its own short test) and for subclasses (the general path)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import pytest

from {{cookiecutter.package_name}}.ports.schema import unstorable


class Level(enum.StrEnum):
    LOW = "low"


class Rank(enum.IntEnum):
    TOP = 1


class Text(str):
    pass


@dataclasses.dataclass
class Pair:
    """A nested value as an entity holds it before its record is made."""

    left: Any
    right: Any = None


LATE = dt.timezone(dt.timedelta(hours=-5))
STORABLE: list[Any] = [
    None,
    True,
    "",
    "text",
    Text("text"),
    Level.LOW,
    Rank.TOP,
    0,
    2**63 - 1,
    -(2**63),
    0.0,
    -0.0,
    1.5,
    1e-130,
    1.5e-130,
    9.99e125,
    -9.99e125,
    Decimal(0),
    Decimal("0.99"),
    Decimal("1" * 34),
    Decimal("1" * 34 + "0" * 10),  # 44 digits, 34 significant
    Decimal("0." + "0" * 50 + "1" * 34),
    Decimal("1e-130"),
    Decimal("9.9e125"),
    dt.datetime(2026, 1, 1),
    dt.datetime(9999, 12, 31, 18, tzinfo=LATE),
    dt.date(1, 1, 1),
    uuid.UUID(int=7),
    [],
    set(),
    frozenset(),
    (),
    {},
    ["a", 1, [2.5, {"k": None}]],
    {"a": {"b": ["c"]}},
    Pair("a", [Pair(1)]),
]
UNSTORABLE: list[tuple[Any, str]] = [
    ("a\x00b", "NUL"),
    (Text("a\x00b"), "NUL"),
    (2**63, "64 bits"),
    (-(2**63) - 1, "64 bits"),
    (Rank.TOP + 2**63, "64 bits"),
    (float("nan"), "finite"),
    (float("inf"), "finite"),
    (9.9e-131, "magnitude"),
    (2e126, "magnitude"),  # 1e126 as a float is 9.99...e125: storable
    (-2e126, "magnitude"),
    (Decimal("NaN"), "finite"),
    (Decimal("-Infinity"), "finite"),
    (Decimal("1" * 35), "significant digits"),
    (Decimal("1" * 35 + "0" * 5), "significant digits"),
    (Decimal("-0." + "0" * 10 + "1" * 35), "significant digits"),
    (Decimal("9.9e-131"), "magnitude"),
    (Decimal("1e126"), "magnitude"),
    (dt.datetime(9999, 12, 31, 23, tzinfo=LATE), "years 1 and 9999"),
    (["fine", "a\x00"], "NUL"),
    ({"fine", 2**64}, "64 bits"),
    ((1, float("nan")), "finite"),
    (frozenset({1e200}), "magnitude"),
    ({"k": [{"deep": 2**70}]}, "64 bits"),
    ({1: "x"}, "keys must be text"),
    ({"a\x00": 1}, "NUL"),
    (Pair("fine", [Pair(2**64)]), "64 bits"),  # walked like its record
]


@pytest.mark.parametrize("value", STORABLE, ids=repr)
def test_storable_values_pass(value: Any) -> None:
    assert unstorable(value) is None


@pytest.mark.parametrize(("value", "reason"), UNSTORABLE, ids=repr)
def test_unstorable_values_say_why(value: Any, reason: str) -> None:
    problem = unstorable(value)
    assert problem is not None
    assert reason in problem
