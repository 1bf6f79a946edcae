"""The parsed filter tree, sort orders and keysets, compiled to SQL expressions, by shape.

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

Each condition compiles to a :class:`~.shapes.Part` (its SQL shape's key and its values), so
a repository builds and compiles a statement once per shape (:mod:`.statements`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import ColumnElement

from ....ports.errors import InvalidQuery
from ....ports.query import And, Condition, Filter, Op, SortField
from ....ports.schema import FieldInfo, Kind
from ..registry import EntitySpec
from .json_filters import free_form_condition, shaped_condition
from .schema import column_type, enum_storage
from .shapes import (
    LIKE_OPS,
    ORDER_OPS,
    Clause,
    Mode,
    Part,
    Target,
    bind,
    combine,
    fixed,
    like,
    like_pattern,
)
from .statements import Names

_STRUCTURED = frozenset({Kind.LIST, Kind.SET, Kind.DICT, Kind.NESTED})
_MAX_TARGETS = 1024  # dotted paths into free-form values are the caller's: keep a bounded few


class SqlCompiler:
    """Compiles queries on one entity's table."""

    def __init__(self, spec: EntitySpec[Any], table: sa.Table) -> None:
        self.spec = spec
        self.table = table
        self._targets: dict[str, Target] = {}

    # --- targets ---------------------------------------------------------------------------

    def target(self, path: str) -> Target:
        found = self._targets.get(path)
        if found is None:
            found = self._target(path)
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()
            self._targets[path] = found
        return found

    def _target(self, path: str) -> Target:
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

    def where(self, tree: Filter | None) -> Part | None:
        return None if tree is None else self._tree(tree)

    def _tree(self, tree: Filter) -> Part:
        if isinstance(tree, Condition):
            return self.condition(tree)
        parts = [self._tree(item) for item in tree.items]
        if isinstance(tree, And):
            return combine("and", parts, sa.and_)
        return combine("or", parts, sa.or_)

    def condition(self, condition: Condition) -> Part:
        target = self.target(condition.field)
        if target.mode == "scalar":
            part = self._scalar(target, condition.op, condition.value)
        elif target.mode == "json":
            part = shaped_condition(target, condition.op, condition.value)
        else:
            part = free_form_condition(target, condition.op, condition.value)
        return Part((condition.field, condition.op, part.key), part.values, part.build)

    def _scalar(self, target: Target, op: Op, value: Any) -> Part:
        expr = target.sql
        if op is Op.EQ or op is Op.NE:
            if value is None:
                return fixed(None, lambda: expr.is_(None) if op is Op.EQ else expr.is_not(None))
            if op is Op.EQ:
                return Part(op, (target.bind(value),), lambda n: expr == bind(n[0]))
            return Part(op, (target.bind(value),), lambda n: expr.is_distinct_from(bind(n[0])))
        if op in ORDER_OPS:
            compare = ORDER_OPS[op]
            return Part(
                op,
                (target.bind(value),),
                lambda n: expr.op(compare, is_comparison=True)(bind(n[0], expr.type)),
            )
        if op is Op.BETWEEN:
            low, high = value
            values = (target.bind(low), target.bind(high))
            return Part(op, values, lambda n: expr.between(bind(n[0]), bind(n[1])))
        if op in (Op.IN, Op.NOT_IN):
            return self._scalar_in(target, op, value)
        if op is Op.EXISTS or op is Op.NOT_EXISTS:
            return fixed(op, lambda: expr.is_not(None) if op is Op.EXISTS else expr.is_(None))
        if op is Op.CONTAINS or op in LIKE_OPS:
            if not target.textual or not isinstance(value, str):
                return fixed(False, sa.false)
            pattern = like_pattern(op, value)
            return Part(op, (pattern,), lambda n: like(expr, op, bind(n[0])))
        raise InvalidQuery(f"operator {op.value!r} is not supported here")  # pragma: no cover

    def _scalar_in(self, target: Target, op: Op, values: Sequence[Any]) -> Part:
        expr = target.sql
        has_null = any(v is None for v in values)
        present = list(dict.fromkeys(target.bind(v) for v in values if v is not None))

        def build(names: Names) -> Clause:
            array = bind(names[0], ARRAY(expr.type)) if names else None
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

        return Part((has_null, bool(present)), (present,) if present else (), build)

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

    def after(self, sort: Sequence[SortField], values: Sequence[Any]) -> Part:
        """Rows strictly after the row whose sort values are ``values``."""
        targets = [self.target(item.field) for item in sort]
        bound = [t.bind(v) for t, v in zip(targets, values, strict=True)]
        directions = {item.descending for item in sort}
        if len(directions) == 1 and not any(t.nullable for t in targets) and None not in bound:
            # One direction, no nulls possible: a row-value comparison the index can serve.
            def row_value(n: Names) -> Clause:
                left = sa.tuple_(*(t.sql for t in targets))
                right = sa.tuple_(
                    *(bind(name, t.sql.type) for t, name in zip(targets, n, strict=True))
                )
                return left < right if sort[0].descending else left > right

            return Part("row", tuple(bound), row_value)
        present = [i for i, v in enumerate(bound) if v is not None]

        def alternatives(n: Names) -> Clause:
            slot = dict(zip(present, n, strict=True))
            binds = [
                None if i not in slot else bind(slot[i], targets[i].sql.type)
                for i in range(len(bound))
            ]
            options: list[Clause] = []
            for position, (item, target) in enumerate(zip(sort, targets, strict=True)):
                equal = [_same(targets[i].sql, binds[i]) for i in range(position)]
                step = _beyond(target, binds[position], item.descending)
                options.append(sa.and_(*equal, step))
            return sa.or_(*options)

        key = ("alternatives", tuple(v is None for v in bound))
        return Part(key, tuple(bound[i] for i in present), alternatives)

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


def _same(expr: ColumnElement[Any], value: sa.BindParameter[Any] | None) -> Clause:
    return expr.is_(None) if value is None else expr == value


def _beyond(target: Target, value: sa.BindParameter[Any] | None, descending: bool) -> Clause:
    expr = target.sql
    if not descending:  # nulls first: everything non-null comes after a null
        return expr.is_not(None) if value is None else expr > value
    if value is None:  # nulls last: nothing comes after a null but other nulls (ties)
        return sa.false()
    smaller = expr < value
    return sa.or_(smaller, expr.is_(None)) if target.nullable else smaller
