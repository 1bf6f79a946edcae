"""The parsed filter tree, sort orders and keysets, compiled to SQL expressions.

Every operator runs in the database, with the reference semantics of ``evaluation.py``:

- null and missing are the same; ``ne`` is ``IS DISTINCT FROM`` and ``not_in`` keeps nulls
  (unless null is one of the values); order comparisons never match null;
- ``contains`` is ``LIKE '%..%'`` on text and JSONB containment (``@>``) on lists and sets;
- the ``i*`` operators are ``ILIKE`` (wildcards in the operand escaped) under the database's
  default collation, so letters outside ASCII fold too;
- dotted paths into nested values read the JSONB column with ``jsonb_extract_path_text`` and
  cast to the nested field's declared type, so ``dims.width >= 10`` compares numbers;
  paths into free-form dicts compare by the JSON type of the stored value, never raise;
- sorts put nulls first ascending and last descending (``NULLS FIRST`` / ``NULLS LAST``), and a
  keyset cursor resumes after the last row with the same rules, in any mix of directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from ....ports.errors import InvalidQuery
from ....ports.query import And, Condition, Filter, Op, SortField
from ....ports.schema import FieldInfo, Kind
from ..registry import EntitySpec
from .schema import column_type, enum_storage, to_db

Clause = ColumnElement[bool]
Mode = Literal["scalar", "json", "any"]

_ORDER = {Op.LT: "<", Op.LTE: "<=", Op.GT: ">", Op.GTE: ">="}
_LIKE_OPS = frozenset({Op.ICONTAINS, Op.BEGINS_WITH, Op.ISTARTSWITH, Op.ENDSWITH, Op.IENDSWITH})
_STRUCTURED = frozenset({Kind.LIST, Kind.SET, Kind.DICT, Kind.NESTED})


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


def _like_pattern(op: Op, operand: str) -> str:
    escaped = escape_like(operand)
    if op in (Op.CONTAINS, Op.ICONTAINS):
        return f"%{escaped}%"
    if op in (Op.BEGINS_WITH, Op.ISTARTSWITH):
        return f"{escaped}%"
    return f"%{escaped}"


def _like(expr: ColumnElement[Any], op: Op, operand: str) -> Clause:
    pattern = _like_pattern(op, operand)
    if op in (Op.ICONTAINS, Op.ISTARTSWITH, Op.IENDSWITH):
        return sa.collate(expr, "default").ilike(pattern, escape="\\")
    return expr.like(pattern, escape="\\")


class SqlCompiler:
    """Compiles queries on one entity's table."""

    def __init__(self, spec: EntitySpec[Any], table: sa.Table) -> None:
        self.spec = spec
        self.table = table

    # --- targets ---------------------------------------------------------------------------

    def target(self, path: str) -> Target:
        info = self.spec.schema.resolve(path)
        if info is None:
            raise InvalidQuery(f"unknown field {path!r} for {self.spec.name}")
        head, _, rest = path.partition(".")
        column: sa.Column[Any] = self.table.c[head]
        if not rest:
            return Target(info, column, self._mode(info), bool(column.nullable))
        parts = [sa.literal(p, sa.Text()) for p in rest.split(".")]
        mode = self._mode(info)
        if mode != "scalar":
            return Target(info, sa.func.jsonb_extract_path(column, *parts, type_=JSONB), mode)
        text = sa.func.jsonb_extract_path_text(column, *parts, type_=sa.Text())
        sql_type = column_type(info)
        if isinstance(sql_type, sa.Text):
            return Target(info, sa.collate(text, "C"), "scalar")
        return Target(info, sa.cast(text, sql_type), "scalar")

    @staticmethod
    def _mode(info: FieldInfo) -> Mode:
        if info.kind in _STRUCTURED:
            return "json"
        if info.kind is Kind.ANY or (info.kind is Kind.ENUM and enum_storage(info) is Kind.ANY):
            return "any"
        return "scalar"

    # --- filters ---------------------------------------------------------------------------

    def where(self, tree: Filter | None) -> Clause | None:
        if tree is None:
            return None
        return self._compile(tree)

    def _compile(self, tree: Filter) -> Clause:
        if isinstance(tree, Condition):
            return self.condition(tree)
        parts = [self._compile(item) for item in tree.items]
        return sa.and_(*parts) if isinstance(tree, And) else sa.or_(*parts)

    def condition(self, condition: Condition) -> Clause:
        target = self.target(condition.field)
        if target.mode == "scalar":
            return self._scalar(target, condition.op, condition.value)
        if target.mode == "json":
            return self._json(target, condition.op, condition.value)
        return self._any(target, condition.op, condition.value)

    def _scalar(self, target: Target, op: Op, value: Any) -> Clause:
        expr = target.sql
        if op is Op.EQ:
            return expr.is_(None) if value is None else expr == target.bind(value)
        if op is Op.NE:
            return expr.is_not(None) if value is None else expr.is_distinct_from(target.bind(value))
        if op in _ORDER:
            return expr.op(_ORDER[op], is_comparison=True)(
                sa.literal(target.bind(value), expr.type)
            )
        if op is Op.BETWEEN:
            low, high = value
            return expr.between(target.bind(low), target.bind(high))
        if op in (Op.IN, Op.NOT_IN):
            return self._scalar_in(target, op, value)
        if op is Op.EXISTS:
            return expr.is_not(None)
        if op is Op.NOT_EXISTS:
            return expr.is_(None)
        if op is Op.CONTAINS or op in _LIKE_OPS:
            if not target.textual or not isinstance(value, str):
                return sa.false()
            return _like(expr, op, value)
        raise InvalidQuery(f"operator {op.value!r} is not supported here")  # pragma: no cover

    def _scalar_in(self, target: Target, op: Op, values: Sequence[Any]) -> Clause:
        expr = target.sql
        has_null = any(v is None for v in values)
        present = list(dict.fromkeys(target.bind(v) for v in values if v is not None))
        array = sa.bindparam(None, present, type_=ARRAY(expr.type)) if present else None
        if op is Op.IN:
            parts: list[Clause] = []
            if array is not None:
                parts.append(expr == sa.any_(array))
            if has_null:
                parts.append(expr.is_(None))
            return sa.or_(*parts) if parts else sa.false()
        if has_null:
            if array is None:
                return expr.is_not(None)
            return sa.and_(expr.is_not(None), expr != sa.all_(array))
        if array is None:
            return sa.true()
        return sa.or_(expr.is_(None), expr != sa.all_(array))

    # JSONB values of a declared shape (lists, sets, dicts, nested dataclasses)

    @staticmethod
    def _json_null(expr: ColumnElement[Any]) -> Clause:
        return sa.or_(expr.is_(None), sa.func.jsonb_typeof(expr) == "null")

    def _json_eq(self, target: Target, value: Any) -> Clause:
        expr = target.sql
        if value is None:
            return self._json_null(expr)
        operand = sa.literal(value, JSONB)
        if target.info.kind is Kind.SET and isinstance(value, set | frozenset):
            return sa.and_(expr.op("@>", is_comparison=True)(operand), expr.op("<@")(operand))
        return expr.op("=", is_comparison=True)(operand)

    def _json(self, target: Target, op: Op, value: Any) -> Clause:
        expr = target.sql
        if op is Op.EQ:
            return sa.func.coalesce(self._json_eq(target, value), sa.false())
        if op is Op.NE:
            return sa.not_(sa.func.coalesce(self._json_eq(target, value), sa.false()))
        if op is Op.IN:
            return sa.or_(sa.false(), *(self._json(target, Op.EQ, v) for v in value))
        if op is Op.NOT_IN:
            return sa.and_(sa.true(), *(self._json(target, Op.NE, v) for v in value))
        if op is Op.EXISTS:
            return sa.not_(self._json_null(expr))
        if op is Op.NOT_EXISTS:
            return self._json_null(expr)
        if op is Op.CONTAINS and target.info.kind in (Kind.LIST, Kind.SET):
            return sa.func.coalesce(
                expr.op("@>", is_comparison=True)(sa.literal([value], JSONB)), sa.false()
            )
        return sa.false()

    # free-form JSONB (dict members, ``Any`` fields): compare by the stored value's JSON type

    def _any(self, target: Target, op: Op, value: Any) -> Clause:
        expr = target.sql
        json_type = sa.func.jsonb_typeof(expr)
        text = sa.collate(
            expr.op("#>>", return_type=sa.Text())(sa.literal([], ARRAY(sa.Text))), "C"
        )
        value = target.bind(value) if not isinstance(value, tuple) else value
        if op is Op.EQ:
            if value is None:
                return self._json_null(expr)
            return sa.func.coalesce(
                expr.op("=", is_comparison=True)(sa.literal(value, JSONB)), sa.false()
            )
        if op is Op.NE:
            return sa.not_(self._any(target, Op.EQ, value))
        if op is Op.IN:
            return sa.or_(sa.false(), *(self._any(target, Op.EQ, v) for v in value))
        if op is Op.NOT_IN:
            return sa.and_(sa.true(), *(self._any(target, Op.NE, v) for v in value))
        if op is Op.EXISTS:
            return sa.not_(self._json_null(expr))
        if op is Op.NOT_EXISTS:
            return self._json_null(expr)
        if op in _ORDER or op is Op.BETWEEN:
            return self._any_order(expr, json_type, text, op, value)
        if op is Op.CONTAINS:
            branches: list[tuple[Clause, Clause]] = [
                (
                    json_type == "array",
                    expr.op("@>", is_comparison=True)(sa.literal([value], JSONB)),
                )
            ]
            if isinstance(value, str):
                branches.insert(0, (json_type == "string", _like(text, op, value)))
            return sa.case(*branches, else_=sa.false())
        if op in _LIKE_OPS and isinstance(value, str):
            return sa.case((json_type == "string", _like(text, op, value)), else_=sa.false())
        return sa.false()

    @staticmethod
    def _any_order(
        expr: ColumnElement[Any],
        json_type: ColumnElement[Any],
        text: ColumnElement[Any],
        op: Op,
        value: Any,
    ) -> Clause:
        sample = value[0] if op is Op.BETWEEN else value
        sql_type: TypeEngine[Any]
        if isinstance(sample, bool):
            json_name, sql_type = "boolean", sa.Boolean()
        elif isinstance(sample, int | float | Decimal):
            json_name, sql_type = "number", sa.Numeric()
        elif isinstance(sample, str):
            json_name, sql_type = "string", sa.Text()
        else:
            return sa.false()
        typed = text if isinstance(sql_type, sa.Text) else sa.cast(text, sql_type)
        if op is Op.BETWEEN:
            low, high = value
            if type(low) is not type(high) and not all(
                isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in value
            ):
                return sa.false()
            test = typed.between(sa.literal(low, sql_type), sa.literal(high, sql_type))
        else:
            test = typed.op(_ORDER[op], is_comparison=True)(sa.literal(value, sql_type))
        return sa.case((json_type == json_name, test), else_=sa.false())

    # --- order and keyset ------------------------------------------------------------------

    def order_by(self, sort: Sequence[SortField]) -> list[ColumnElement[Any]]:
        clauses: list[ColumnElement[Any]] = []
        for item in sort:
            target = self.target(item.field)
            expr = target.sql
            if item.descending:
                clauses.append(expr.desc().nulls_last() if target.nullable else expr.desc())
            else:
                clauses.append(expr.asc().nulls_first() if target.nullable else expr.asc())
        return clauses

    def after(self, sort: Sequence[SortField], values: Sequence[Any]) -> Clause:
        """Rows strictly after the row whose sort values are ``values``."""
        targets = [self.target(item.field) for item in sort]
        bound = [t.bind(v) for t, v in zip(targets, values, strict=True)]
        directions = {item.descending for item in sort}
        if len(directions) == 1 and not any(t.nullable for t in targets) and None not in bound:
            # One direction, no nulls possible: a row-value comparison the index can serve.
            left = sa.tuple_(*(t.sql for t in targets))
            right = sa.tuple_(
                *(sa.literal(v, t.sql.type) for t, v in zip(targets, bound, strict=True))
            )
            return left < right if sort[0].descending else left > right
        alternatives: list[Clause] = []
        for position, (item, target) in enumerate(zip(sort, targets, strict=True)):
            equal = [_same(targets[i].sql, bound[i]) for i in range(position)]
            step = _beyond(target, bound[position], item.descending)
            alternatives.append(sa.and_(*equal, step))
        return sa.or_(*alternatives)

    # --- expiry ----------------------------------------------------------------------------

    def live(self) -> Clause | None:
        """Rows whose expiry (``ttl_field``) is unset or still in the future (server clock)."""
        if self.spec.ttl_field is None:
            return None
        column = self.table.c[self.spec.ttl_field]
        info = self.spec.schema.fields[self.spec.ttl_field]
        now: ColumnElement[Any] = sa.func.now()
        if info.kind is not Kind.DATETIME:
            now = sa.extract("epoch", now)
        return sa.or_(column.is_(None), column > now)

    def expired(self) -> Clause:
        live = self.live()
        return sa.not_(live) if live is not None else sa.false()


def _same(expr: ColumnElement[Any], value: Any) -> Clause:
    return expr.is_(None) if value is None else expr == sa.literal(value, expr.type)


def _beyond(target: Target, value: Any, descending: bool) -> Clause:
    expr = target.sql
    if not descending:  # nulls first: everything non-null comes after a null
        return expr.is_not(None) if value is None else expr > sa.literal(value, expr.type)
    if value is None:  # nulls last: nothing comes after a null but other nulls (ties)
        return sa.false()
    smaller = expr < sa.literal(value, expr.type)
    return sa.or_(smaller, expr.is_(None)) if target.nullable else smaller
