"""The planned constructor pass (``domain_pass``) gives what the general path gives.

Every write rebuilds the entity through its constructor; ``domain_pass`` does it from a plan
made per combination of value types, and hands anything its plan does not fit to the general
path. These tests put the same entities through both and compare the entity, the record (with
its value types) or the error, and check what the plan must not share or skip.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.codec import to_record
from {{cookiecutter.package_name}}.adapters.persistence.common import (
    new_record,
    through_domain_record,
)
from {{cookiecutter.package_name}}.adapters.persistence.domain_pass import MAX_PLANS, domain_pass
from {{cookiecutter.package_name}}.adapters.persistence.specs import EntitySpec
from {{cookiecutter.package_name}}.ports.errors import InvalidInput


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Size(enum.IntEnum):
    SMALL = 1


@dataclasses.dataclass
class Part:
    name: str
    weight: float = 1.0


@dataclasses.dataclass
class Gadget:
    """Every kind of field, and a constructor that validates and normalises."""

    name: str
    id: str = "g1"
    price: Decimal = Decimal("1.50")
    count: int = 0
    ratio: float = 0.5
    active: bool = True
    colour: Colour = Colour.RED
    size: Size | None = None
    made_at: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    made_on: dt.date | None = None
    ref: uuid.UUID | None = None
    tags: list[str] = dataclasses.field(default_factory=list)
    pair: tuple[int, ...] = ()
    labels: set[str] = dataclasses.field(default_factory=set)
    parts: list[Part] = dataclasses.field(default_factory=list)
    main_part: Part | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    anything: Any = None
    version: int = 0

    def __post_init__(self) -> None:
        self.name = self.name.strip()
        if not self.name:
            raise ValueError("a gadget needs a name")
        if self.count < 0:
            raise ValueError("count cannot be negative")


@dataclasses.dataclass(kw_only=True)
class KeywordGadget:
    """Built by keyword only: the plan cannot pass values by position."""

    id: str = "k1"
    name: str = ""
    tags: list[str] = dataclasses.field(default_factory=list)


GADGET = EntitySpec("gadget", Gadget)
KEYWORD = EntitySpec("keyword", KeywordGadget)
MOMENT = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)


def gadget(**changes: Any) -> Gadget:
    """A gadget whose constructor ran, then changed as a caller may change it afterwards."""
    built = Gadget(name="g")
    for name, value in changes.items():
        setattr(built, name, value)
    return built


# The plan takes these (every value already has its field's type, nulls where allowed)...
PLANNED: dict[str, Gadget] = {
    "defaults": gadget(),
    "every field set": gadget(
        name="  spaced  ",
        size=Size.SMALL,
        made_on=dt.date(2026, 1, 2),
        ref=uuid.UUID(int=5),
        tags=["a", "b"],
        pair=(1, 2),
        labels={"x", "y"},
        parts=[Part("p", 2.0)],
        main_part=Part("m"),
        extra={"k": [1, {"deep": (2, 3)}], "s": {4}},
        anything=Part("loose"),
        version=7,
    ),
    "tuple where a list is declared": gadget(tags=("a", "b")),
    "frozenset where a set is declared": gadget(labels=frozenset({"z"})),
    "list where a tuple is declared": gadget(pair=[3, 4]),
    "any holding a scalar": gadget(anything="text"),
    "any holding a set of enums": gadget(anything={Colour.BLUE}),
    "naive datetime (revived as UTC)": gadget(made_at=dt.datetime(2026, 1, 1)),
}

# ...and hands these to the general path (coercion, a null where none is allowed, ...).
GENERAL: dict[str, Gadget] = {
    "int where a decimal is declared": gadget(price=2),
    "str where an int is declared": gadget(count="3"),
    "int where a float is declared": gadget(ratio=1),
    "str where an enum is declared": gadget(colour="blue"),
    "text datetime": gadget(made_at="2026-01-01T00:00:00+00:00"),
    "null where none is allowed": gadget(count=None),
    "null name": gadget(name=None),
}

# Refused on either path, with the same error.
REFUSED: dict[str, Gadget] = {
    "constructor refuses": gadget(count=-1),
    "constructor refuses after normalising": gadget(name="   "),
    "NUL in text": gadget(name="a\x00b"),
    "NUL in a list": gadget(tags=["fine", "a\x00"]),
    "NUL deep in a nested list": gadget(parts=[Part("a\x00")]),
    "NUL in a nested value": gadget(main_part=Part("a\x00")),
    "integer past 64 bits": gadget(count=2**63),
    "too many decimal digits": gadget(price=Decimal("1" * 35)),
    "float out of range": gadget(ratio=float("inf")),
    "dict key not text": gadget(extra={1: "x"}),
    # both refused: the message names the first in field order, whichever is checked first
    "the earlier of two refused fields is named": gadget(price=Decimal("NaN"), anything="a\x00"),
    "uncoercible list item": gadget(pair=["x"]),
    "datetime past the year 9999 in UTC": gadget(
        made_at=dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    ),
}


def general_path(spec: EntitySpec[Any], entity: Any, version: int | None = None) -> Any:
    """What the general path builds: the same inputs, given as a record (a Mapping)."""
    record = to_record(entity)
    if version is not None:
        record["version"] = version
    return through_domain_record(spec, record)


def outcome(build: Any) -> Any:
    """The entity and the record with every value's type, or the error."""
    try:
        entity, record = build()
    except Exception as exc:  # the error itself is the outcome compared
        return type(exc), str(exc)
    return entity, record, typed(record)


def typed(value: Any) -> Any:
    """A value with its type beside it, all the way down (1 == 1.0 == True otherwise)."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value), [typed(v) for v in value]
    if isinstance(value, set | frozenset):
        return type(value), sorted(map(repr, value))
    return type(value), value


def planned(spec: EntitySpec[Any], entity: Any, version: int | None = None) -> Any:
    return domain_pass(spec).rebuild_record(spec, entity, version)


@pytest.mark.parametrize("name", PLANNED)
@pytest.mark.parametrize("version", [None, 1])
def test_the_plan_builds_what_the_general_path_builds(name: str, version: int | None) -> None:
    entity = PLANNED[name]
    assert planned(GADGET, entity, version) is not None, "the plan should take this entity"
    fast = outcome(lambda: planned(GADGET, entity, version))
    assert fast == outcome(lambda: general_path(GADGET, entity, version))
    if version is not None:
        assert fast[0].version == version


@pytest.mark.parametrize("name", GENERAL)
def test_values_the_plan_does_not_fit_take_the_general_path(name: str) -> None:
    entity = GENERAL[name]
    assert planned(GADGET, entity) is None
    expected = outcome(lambda: general_path(GADGET, entity))
    assert outcome(lambda: through_domain_record(GADGET, entity)) == expected


@pytest.mark.parametrize("name", REFUSED)
@pytest.mark.parametrize("copy", [True, False])
def test_refusals_are_the_same_on_both_paths(name: str, copy: bool) -> None:
    entity = REFUSED[name]
    expected = outcome(lambda: general_path(GADGET, entity))
    assert expected[0] in (InvalidInput, ValueError), expected
    assert outcome(lambda: through_domain_record(GADGET, entity)) == expected
    error, message = expected
    with pytest.raises(error) as refused:
        domain_pass(GADGET).rebuild(GADGET, entity, copy=copy) or general_path(GADGET, entity)
    assert str(refused.value) == message


def mutable_ids(value: Any) -> set[int]:
    """The identities of every list, set, dict and dataclass inside ``value``."""
    found: set[int] = set()
    if isinstance(value, list | set | dict) or dataclasses.is_dataclass(value):
        found.add(id(value))
    if isinstance(value, dict):
        items: Any = value.values()
    elif dataclasses.is_dataclass(value):
        items = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    else:
        items = ()
    for item in items:
        found |= mutable_ids(item)
    return found


def test_the_rebuilt_entity_and_its_record_share_nothing_mutable() -> None:
    entity = PLANNED["every field set"]
    rebuilt, values = domain_pass(GADGET).rebuild(GADGET, entity) or pytest.fail("not planned")
    original = mutable_ids(entity) - {id(entity)}
    mine = mutable_ids(rebuilt) - {id(rebuilt)}
    record = mutable_ids(values)
    assert original
    assert mine
    assert record
    assert not original & mine
    assert not record & (mine | original)


def test_without_copies_the_values_are_the_rebuilt_entitys_own() -> None:
    entity = PLANNED["every field set"]
    constructor = domain_pass(GADGET)
    rebuilt, values = constructor.rebuild(GADGET, entity, copy=False) or pytest.fail("no plan")
    by_name = dict(zip(constructor.names, values, strict=True))
    assert by_name["tags"] is rebuilt.tags
    assert by_name["main_part"] is rebuilt.main_part
    assert not mutable_ids(entity) - {id(entity)} & mutable_ids(rebuilt)


def test_an_entity_built_by_keyword_only_takes_the_plan_too() -> None:
    entity = KeywordGadget(name="k", tags=["t"])
    built = domain_pass(KEYWORD).rebuild(KEYWORD, entity)
    assert built is not None
    assert built[0] == entity
    assert built[0].tags is not entity.tags


def test_new_record_sets_the_first_version_through_the_constructor() -> None:
    seen: list[int] = []

    @dataclasses.dataclass
    class Counted:
        id: str = "c1"
        version: int = 0

        def __post_init__(self) -> None:
            seen.append(self.version)

    spec = EntitySpec("counted", Counted)
    key, stored, record = new_record(spec, Counted(version=9))
    assert (key, stored.version, record["version"]) == ("c1", 1, 1)
    assert seen == [9, 1]  # the caller's construction, then exactly one rebuild


def test_a_subclass_takes_the_general_path() -> None:
    @dataclasses.dataclass
    class SpecialGadget(Gadget):
        pass

    entity = SpecialGadget(name="s")
    assert domain_pass(GADGET).rebuild(GADGET, entity) is None
    stored, record = through_domain_record(GADGET, entity)
    assert type(stored) is Gadget
    assert record == to_record(Gadget(name="s"))


def test_plans_stay_bounded_when_value_types_never_repeat() -> None:
    @dataclasses.dataclass
    class Loose:
        id: str = "l1"
        anything: Any = None

    spec = EntitySpec("loose", Loose)
    constructor = domain_pass(spec)
    kinds = [type(f"Kind{n}", (), {}) for n in range(MAX_PLANS + 10)]
    for kind in kinds:
        assert constructor.rebuild(spec, Loose(anything=kind())) is not None
    assert 0 < len(constructor._inputs) <= MAX_PLANS
    assert 0 < len(constructor._outputs) <= MAX_PLANS
