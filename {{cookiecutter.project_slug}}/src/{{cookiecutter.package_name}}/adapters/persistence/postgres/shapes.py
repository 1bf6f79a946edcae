"""Clauses by shape: what a filter condition compiles to before SQLAlchemy sees it.

A condition compiles to a :class:`Part`: the key of its SQL shape, its values in placeholder
order, and how to build the SQLAlchemy expression from placeholder names. Only the key and the
values are worked out per call; the expression is built once per shape (:mod:`.statements`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from ....ports.query import Op
from ....ports.schema import FieldInfo, Kind
from .schema import enum_storage, to_db
from .statements import Names

Clause = ColumnElement[bool]
Mode = Literal["scalar", "json", "any"]

ORDER_OPS = {Op.LT: "<", Op.LTE: "<=", Op.GT: ">", Op.GTE: ">="}
LIKE_OPS = frozenset({Op.ICONTAINS, Op.BEGINS_WITH, Op.ISTARTSWITH, Op.ENDSWITH, Op.IENDSWITH})


@dataclass(frozen=True, slots=True)
class Part:
    """A clause by shape: ``key`` decides its SQL text, ``values`` fill its placeholders in
    order, ``build(names)`` makes the expression with one placeholder name per value."""

    key: Hashable
    values: tuple[Any, ...]
    build: Callable[[Names], Clause]


def fixed(key: Hashable, make: Callable[[], Clause]) -> Part:
    """A clause without values."""
    return Part(key, (), lambda _: make())


def combine(tag: str, parts: Sequence[Part], join: Callable[..., Clause]) -> Part:
    """``join(*clauses)`` of several parts, their values one after the other."""
    values = tuple(v for part in parts for v in part.values)

    def build(names: Names) -> Clause:
        clauses, at = [], 0
        for part in parts:
            clauses.append(part.build(names[at : at + len(part.values)]))
            at += len(part.values)
        return join(*clauses)

    return Part((tag, *(part.key for part in parts)), values, build)


def bind(name: str, type_: TypeEngine[Any] | type[TypeEngine[Any]] | None = None) -> Any:
    """A placeholder; untyped, it takes the type of what it is compared with."""
    return sa.bindparam(name, type_=type_)


@dataclass(frozen=True)
class Target:
    """A field path as SQL: a typed scalar, a JSONB value of known shape, or free-form JSONB."""

    info: FieldInfo
    sql: ColumnElement[Any]
    mode: Mode
    nullable: bool = True

    @property
    def textual(self) -> bool:
        kind = self.info.kind
        if kind is Kind.ENUM:
            return enum_storage(self.info) is Kind.STR
        return kind is Kind.STR

    def bind(self, value: Any) -> Any:
        return to_db(self.info, value)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(op: Op, operand: str) -> str:
    escaped = escape_like(operand)
    if op in (Op.CONTAINS, Op.ICONTAINS):
        return f"%{escaped}%"
    if op in (Op.BEGINS_WITH, Op.ISTARTSWITH):
        return f"{escaped}%"
    return f"%{escaped}"


def like(expr: ColumnElement[Any], op: Op, pattern: sa.BindParameter[Any]) -> Clause:
    """``LIKE``, or ``ILIKE`` under the database's default collation for the ``i*`` operators
    (the column's "C" collation would fold ASCII only)."""
    if op in (Op.ICONTAINS, Op.ISTARTSWITH, Op.IENDSWITH):
        return sa.collate(expr, "default").ilike(pattern, escape="\\")
    return expr.like(pattern, escape="\\")
