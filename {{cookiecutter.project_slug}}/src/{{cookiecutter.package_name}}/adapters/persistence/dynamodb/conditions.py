"""The parts of a staged write's condition, each with the same test in Python.

A cancelled ``TransactWriteItems`` says which action failed, not which part of its condition.
Every action asks for the item as it was (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), and
each part below tests that item the way DynamoDB did, so the part that failed names the kit
error: ``AlreadyExists`` for a taken id or unique value, ``ReferenceNotFound`` for a missing
target, ``StillReferenced`` for a restrict, or "someone wrote in between" (``retry``), which a
write outside a unit of work answers by reading again. The same tests check a write against
what a unit of work has already staged for the item (see ``staging.Staging.stage``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .expressions import Expression
from .serialization import AttributeValue, Item
from .tables import TTL_ATTRIBUTE, UNIQUE_KEY, UNIQUE_OWNER

Failure = Callable[[], Exception]


def expired(item: Mapping[str, Any], now: int) -> bool:
    ttl = item.get(TTL_ATTRIBUTE)
    return ttl is not None and "N" in ttl and int(float(ttl["N"])) <= now


def counter(item: Mapping[str, Any] | None, attribute: str) -> int:
    """A hidden reference counter (absent: 0)."""
    if item is None or attribute not in item or "N" not in item[attribute]:
        return 0
    return int(Decimal(item[attribute]["N"]))


def number(value: int) -> AttributeValue:
    return {"N": str(value)}


def same_value(stored: AttributeValue | None, wanted: AttributeValue | None) -> bool:
    """DynamoDB's equality of two attribute values (a missing attribute equals NULL here)."""
    if stored is None or "NULL" in stored:
        return wanted is None or "NULL" in wanted
    if wanted is None or "NULL" in wanted:
        return False
    ((kind, value),) = stored.items()
    ((wanted_kind, wanted_value),) = wanted.items()
    if kind != wanted_kind:
        return False
    if kind == "N":
        return Decimal(value) == Decimal(wanted_value)
    if kind == "NS":
        return {Decimal(v) for v in value} == {Decimal(v) for v in wanted_value}
    if kind in ("SS", "BS"):
        return set(value) == set(wanted_value)
    if kind == "L":
        return len(value) == len(wanted_value) and all(
            same_value(a, b) for a, b in zip(value, wanted_value, strict=True)
        )
    if kind == "M":
        return value.keys() == wanted_value.keys() and all(
            same_value(value[k], wanted_value[k]) for k in value
        )
    return bool(value == wanted_value)


@dataclass(frozen=True, kw_only=True)
class Cond:
    """One part of an action's condition. ``failure`` builds the error it means when false;
    ``retry``: someone wrote in between (outside a unit: read again and retry); ``skip``: a
    decrement whose target vanished (drop it, nothing is left to count)."""

    failure: Failure
    retry: bool = False
    skip: bool = False

    def build(self, expr: Expression, now: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def holds(self, item: Item | None, now: int) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def shifted(self, deltas: Mapping[str, int]) -> Cond:
        """This condition on the stored item, when ``deltas`` are staged on its counters."""
        return self


@dataclass(frozen=True, kw_only=True)
class Free(Cond):
    """No live item under this key (none, or an expired one)."""

    key: str

    def build(self, expr: Expression, now: int) -> str:
        k, t = expr.name(self.key), expr.name(TTL_ATTRIBUTE)
        return f"(attribute_not_exists({k}) OR {t} <= {expr.value(number(now))})"

    def holds(self, item: Item | None, now: int) -> bool:
        return item is None or expired(item, now)


@dataclass(frozen=True, kw_only=True)
class Live(Cond):
    """A live item under this key."""

    key: str

    def build(self, expr: Expression, now: int) -> str:
        return f"(attribute_exists({expr.name(self.key)}) AND {expr.live(TTL_ATTRIBUTE, now)})"

    def holds(self, item: Item | None, now: int) -> bool:
        return item is not None and not expired(item, now)


@dataclass(frozen=True, kw_only=True)
class Same(Cond):
    """The item is still the one read: these attributes hold these values."""

    key: str
    values: tuple[tuple[str, AttributeValue | None], ...]

    def build(self, expr: Expression, now: int) -> str:
        parts = [f"attribute_exists({expr.name(self.key)})"]
        parts += [expr.equals(name, av or {"NULL": True}) for name, av in self.values]
        return "(" + " AND ".join(parts) + ")"

    def holds(self, item: Item | None, now: int) -> bool:
        return item is not None and all(same_value(item.get(n), av) for n, av in self.values)


@dataclass(frozen=True, kw_only=True)
class Claim(Cond):
    """A uniqueness item that is free, already ``owner``'s, or held by an expired item."""

    owner: str

    def build(self, expr: Expression, now: int) -> str:
        k, o, t = expr.name(UNIQUE_KEY), expr.name(UNIQUE_OWNER), expr.name(TTL_ATTRIBUTE)
        mine, when = expr.value({"S": self.owner}), expr.value(number(now))
        return f"(attribute_not_exists({k}) OR {o} = {mine} OR {t} <= {when})"

    def holds(self, item: Item | None, now: int) -> bool:
        return item is None or item.get(UNIQUE_OWNER) == {"S": self.owner} or expired(item, now)


@dataclass(frozen=True, kw_only=True)
class Release(Cond):
    """A uniqueness item that is gone or still ``owner``'s."""

    owner: str

    def build(self, expr: Expression, now: int) -> str:
        k, o = expr.name(UNIQUE_KEY), expr.name(UNIQUE_OWNER)
        return f"(attribute_not_exists({k}) OR {o} = {expr.value({'S': self.owner})})"

    def holds(self, item: Item | None, now: int) -> bool:
        return item is None or item.get(UNIQUE_OWNER) == {"S": self.owner}


@dataclass(frozen=True, kw_only=True)
class CounterAtMost(Cond):
    """A reference counter of at most ``limit`` (restrict: no child left)."""

    attribute: str
    limit: int

    def build(self, expr: Expression, now: int) -> str:
        a, v = expr.name(self.attribute), expr.value(number(self.limit))
        return f"(attribute_not_exists({a}) OR {a} <= {v})" if self.limit >= 0 else f"{a} <= {v}"

    def holds(self, item: Item | None, now: int) -> bool:
        return counter(item, self.attribute) <= self.limit

    def shifted(self, deltas: Mapping[str, int]) -> Cond:
        return dataclasses.replace(self, limit=self.limit - deltas.get(self.attribute, 0))


@dataclass(frozen=True, kw_only=True)
class CounterEquals(Cond):
    """A reference counter of exactly ``count`` (cascade/set_null: every child is handled)."""

    attribute: str
    count: int

    def build(self, expr: Expression, now: int) -> str:
        a, v = expr.name(self.attribute), expr.value(number(self.count))
        return f"(attribute_not_exists({a}) OR {a} = {v})" if self.count == 0 else f"{a} = {v}"

    def holds(self, item: Item | None, now: int) -> bool:
        return counter(item, self.attribute) == self.count

    def shifted(self, deltas: Mapping[str, int]) -> Cond:
        return dataclasses.replace(self, count=self.count - deltas.get(self.attribute, 0))
