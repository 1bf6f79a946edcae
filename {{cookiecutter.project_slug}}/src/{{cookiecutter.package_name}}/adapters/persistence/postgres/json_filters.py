"""Conditions on JSONB values: of a declared shape (lists, sets, dicts, nested dataclasses:
``=`` and ``@>`` containment) and free-form (dict members, ``Any`` fields: compared by the
stored value's JSON type, so a condition never fails on a value of another type)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from ....ports.query import Op
from ....ports.schema import Kind
from .shapes import (
    LIKE_OPS,
    ORDER_OPS,
    Clause,
    Part,
    Target,
    bind,
    combine,
    fixed,
    like,
    like_pattern,
)
from .statements import Names

# --- JSONB values of a declared shape ---------------------------------------------------------


def json_null(expr: ColumnElement[Any]) -> Clause:
    return sa.or_(expr.is_(None), sa.func.jsonb_typeof(expr) == "null")


def _exists(expr: ColumnElement[Any], op: Op) -> Part:
    return fixed(None, lambda: sa.not_(json_null(expr)) if op is Op.EXISTS else json_null(expr))


def _json_eq(target: Target, value: Any) -> Part:
    """``expr = value`` as JSON, possibly null (the caller coalesces)."""
    expr = target.sql
    if value is None:
        return fixed(None, lambda: json_null(expr))
    if target.info.kind is Kind.SET and isinstance(value, set | frozenset):

        def same_set(n: Names) -> Clause:
            operand = bind(n[0], JSONB)
            return sa.and_(expr.op("@>", is_comparison=True)(operand), expr.op("<@")(operand))

        return Part("set", (value,), same_set)
    return Part("=", (value,), lambda n: _json_is(expr, n[0]))


def shaped_condition(target: Target, op: Op, value: Any) -> Part:
    """A condition on a list, set, dict or nested value."""
    expr = target.sql
    if op is Op.EQ or op is Op.NE:
        eq = _json_eq(target, value)

        def equal(n: Names) -> Clause:
            found = sa.func.coalesce(eq.build(n), sa.false())
            return found if op is Op.EQ else sa.not_(found)

        return Part(eq.key, eq.values, equal)
    if op is Op.IN:
        return combine("in", [shaped_condition(target, Op.EQ, v) for v in value], _any_of)
    if op is Op.NOT_IN:
        return combine("not_in", [shaped_condition(target, Op.NE, v) for v in value], _all_of)
    if op is Op.EXISTS or op is Op.NOT_EXISTS:
        return _exists(expr, op)
    if op is Op.CONTAINS and target.info.kind in (Kind.LIST, Kind.SET):
        return Part(None, ([value],), lambda n: sa.func.coalesce(_holds(expr, n[0]), sa.false()))
    return fixed(False, sa.false)


# --- free-form JSONB: compare by the stored value's JSON type -------------------------------


def free_form_condition(target: Target, op: Op, value: Any) -> Part:
    """A condition on a dict member or an ``Any`` field."""
    expr = target.sql
    value = target.bind(value) if not isinstance(value, tuple) else value
    if op is Op.EQ:
        if value is None:
            return fixed(None, lambda: json_null(expr))
        return Part("=", (value,), lambda n: sa.func.coalesce(_json_is(expr, n[0]), sa.false()))
    if op is Op.NE:
        eq = free_form_condition(target, Op.EQ, value)
        return Part(eq.key, eq.values, lambda n: sa.not_(eq.build(n)))
    if op is Op.IN:
        return combine("in", [free_form_condition(target, Op.EQ, v) for v in value], _any_of)
    if op is Op.NOT_IN:
        parts = [free_form_condition(target, Op.NE, v) for v in value]
        return combine("not_in", parts, _all_of)
    if op is Op.EXISTS or op is Op.NOT_EXISTS:
        return _exists(expr, op)
    if op in ORDER_OPS or op is Op.BETWEEN:
        return _ordered(expr, op, value)
    if op is Op.CONTAINS and not isinstance(value, str):
        return Part(
            "array", ([value],), lambda n: _typed_case(expr, [("array", _holds(expr, n[0]))])
        )
    if op is Op.CONTAINS or (op in LIKE_OPS and isinstance(value, str)):
        pattern = like_pattern(op, value)

        def text_or_array(n: Names) -> Clause:
            branches = [("string", like(_as_text(expr), op, bind(n[0])))]
            if op is Op.CONTAINS:
                branches.append(("array", _holds(expr, n[1])))
            return _typed_case(expr, branches)

        values = (pattern, [value]) if op is Op.CONTAINS else (pattern,)
        return Part("text", values, text_or_array)
    return fixed(False, sa.false)


def _ordered(expr: ColumnElement[Any], op: Op, value: Any) -> Part:
    """An order comparison, only against stored values of the operand's JSON type."""
    sample = value[0] if op is Op.BETWEEN else value
    sql_type: TypeEngine[Any]
    if isinstance(sample, bool):
        json_name, sql_type = "boolean", sa.Boolean()
    elif isinstance(sample, int | float | Decimal):
        json_name, sql_type = "number", sa.Numeric()
    elif isinstance(sample, str):
        json_name, sql_type = "string", sa.Text()
    else:
        return fixed(False, sa.false)
    if op is Op.BETWEEN:
        low, high = value
        if type(low) is not type(high) and not all(
            isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in value
        ):
            return fixed(False, sa.false)

    def compare(n: Names) -> Clause:
        text = _as_text(expr)
        typed = text if isinstance(sql_type, sa.Text) else sa.cast(text, sql_type)
        if op is Op.BETWEEN:
            test = typed.between(bind(n[0], sql_type), bind(n[1], sql_type))
        else:
            test = typed.op(ORDER_OPS[op], is_comparison=True)(bind(n[0], sql_type))
        return _typed_case(expr, ((json_name, test),))

    return Part(json_name, tuple(value) if op is Op.BETWEEN else (value,), compare)


def _typed_case(expr: ColumnElement[Any], branches: Any) -> Clause:
    """``CASE jsonb_typeof(expr) WHEN <type> THEN <test> ... ELSE false``."""
    json_type = sa.func.jsonb_typeof(expr)
    return sa.case(*((json_type == name, test) for name, test in branches), else_=sa.false())


def _json_is(expr: ColumnElement[Any], name: str) -> Clause:
    """``expr = <placeholder>`` as JSONB."""
    return expr.op("=", is_comparison=True)(bind(name, JSONB))


def _holds(expr: ColumnElement[Any], name: str) -> Clause:
    """``expr @> <placeholder>`` (JSONB containment)."""
    return expr.op("@>", is_comparison=True)(bind(name, JSONB))


def _any_of(*clauses: Clause) -> Clause:
    return sa.or_(sa.false(), *clauses)


def _all_of(*clauses: Clause) -> Clause:
    return sa.and_(sa.true(), *clauses)


def _as_text(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    """A free-form JSONB value as text (``#>> '{}'``), compared in code-point order."""
    return sa.collate(expr.op("#>>", return_type=sa.Text())(sa.literal([], ARRAY(sa.Text))), "C")
