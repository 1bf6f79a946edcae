"""The kit's filter tree compiled to DynamoDB condition / filter expressions.

Every operator the reference semantics (``evaluation.py``) defines compiles, with the same
null rules: missing and ``NULL`` are the same, ``ne``/``not_in`` match them, order comparisons
never do. DynamoDB has no case folding and no suffix test, so ``icontains``, ``istartswith``,
``endswith``, ``iendswith`` (and order comparisons on booleans) cannot run server-side: the
compiler *relaxes* them to "true" and says the result is not exact. Readers then filter the
(superset) result in Python with the reference evaluator; writers read the item, evaluate the
condition, and pin the observed values of those fields in the write's condition (see
:func:`compile_filter`'s ``pin``), so the check stays atomic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ....ports.query import And, Condition, Filter, Op
from ....ports.schema import EntitySchema, FieldInfo, Kind
from ..evaluation import compare_values
from .serialization import AttributeValue, to_av

_TOKEN = re.compile(r"[#:][nv]\d+")
IN_CHUNK = 100  # DynamoDB's limit on the operands of one IN
_RELAXED = frozenset({Op.ICONTAINS, Op.ISTARTSWITH, Op.ENDSWITH, Op.IENDSWITH})
_COMPARE = {Op.LT: "<", Op.LTE: "<=", Op.GT: ">", Op.GTE: ">="}


class Expression:
    """Placeholders for one request: ``#n0`` names and ``:v0`` values, shared by its key
    condition, filter, condition, update and projection expressions."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, AttributeValue] = {}
        self._by_name: dict[str, str] = {}

    def name(self, attribute: str) -> str:
        placeholder = self._by_name.get(attribute)
        if placeholder is None:
            placeholder = f"#n{len(self._by_name)}"
            self._by_name[attribute] = placeholder
            self.names[placeholder] = attribute
        return placeholder

    def path(self, dotted: str) -> str:
        return ".".join(self.name(part) for part in dotted.split("."))

    def value(self, av: AttributeValue) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = av
        return placeholder

    def params(self, *used: str | None) -> dict[str, Any]:
        """``ExpressionAttributeNames`` / ``ExpressionAttributeValues`` (when any). Given the
        expressions actually sent, drops placeholders only a relaxed condition mentioned
        (DynamoDB refuses unused ones)."""
        names, values = dict(self.names), dict(self.values)
        if used:
            tokens = set(_TOKEN.findall(" ".join(u for u in used if u)))
            names = {k: v for k, v in names.items() if k in tokens}
            values = {k: v for k, v in values.items() if k in tokens}
        result: dict[str, Any] = {}
        if names:
            result["ExpressionAttributeNames"] = names
        if values:
            result["ExpressionAttributeValues"] = values
        return result

    # --- building blocks ---------------------------------------------------------------------

    def nullish(self, path: str) -> str:
        p = self.path(path)
        return f"(attribute_not_exists({p}) OR attribute_type({p}, {self.value({'S': 'NULL'})}))"

    def present(self, path: str) -> str:
        p = self.path(path)
        null = self.value({"S": "NULL"})
        return f"(attribute_exists({p}) AND NOT attribute_type({p}, {null}))"

    def false(self, path: str) -> str:
        p = self.path(path)
        return f"(attribute_exists({p}) AND attribute_not_exists({p}))"

    def equals(self, path: str, av: AttributeValue) -> str:
        if "NULL" in av:
            return self.nullish(path)
        return f"{self.path(path)} = {self.value(av)}"

    def live(self, ttl_attribute: str, now: int) -> str:
        """Not expired: no TTL attribute, or one still in the future."""
        t = self.name(ttl_attribute)
        return f"(attribute_not_exists({t}) OR {t} > {self.value({'N': str(now)})})"


def join(operator: str, parts: Sequence[str | None]) -> str | None:
    kept = [p for p in parts if p]
    if not kept:
        return None
    if len(kept) == 1:
        return kept[0]
    return "(" + f" {operator} ".join(kept) + ")"


Pin = Callable[[Condition], str | None]


def compile_filter(
    tree: Filter | None,
    expr: Expression,
    schema: EntitySchema | None = None,
    *,
    pin: Pin | None = None,
) -> tuple[str | None, bool]:
    """``(expression, exact)``. ``None`` means "no restriction". ``exact`` is False when some
    condition could not run server-side and was relaxed; ``pin`` (for writes) replaces such a
    condition with an expression of its own instead (the observed value of its field)."""
    if tree is None:
        return None, True
    if isinstance(tree, Condition):
        compiled = _condition(tree, expr, schema)
        if compiled is not None:
            return compiled, True
        if pin is not None:
            return pin(tree), True
        return None, False
    parts = [compile_filter(item, expr, schema, pin=pin) for item in tree.items]
    exact = all(ok for _, ok in parts)
    if isinstance(tree, And):
        return join("AND", [p for p, _ in parts]), exact
    if any(p is None for p, _ in parts):
        return None, exact and all(p is not None for p, _ in parts)
    return join("OR", [p for p, _ in parts]), exact


def _info(schema: EntitySchema | None, path: str) -> FieldInfo | None:
    return schema.resolve(path) if schema is not None else None


def _condition(cond: Condition, expr: Expression, schema: EntitySchema | None) -> str | None:
    op, path = cond.op, cond.field
    info = _info(schema, path)
    if op in _RELAXED:
        return None
    if op is Op.EXISTS:
        return expr.present(path)
    if op is Op.NOT_EXISTS:
        return expr.nullish(path)
    if op is Op.EQ:
        return expr.equals(path, to_av(cond.value, info))
    if op is Op.NE:
        if cond.value is None:
            return expr.present(path)
        return f"NOT ({expr.equals(path, to_av(cond.value, info))})"
    if op is Op.IN:
        return _in(path, cond.value, expr, info)
    if op is Op.NOT_IN:
        return f"NOT {_in(path, cond.value, expr, info)}"
    if op is Op.CONTAINS:
        needle_info = info.item if info is not None and info.item is not None else None
        if info is not None and info.kind is Kind.STR:
            needle_info = info
        return f"contains({expr.path(path)}, {expr.value(to_av(cond.value, needle_info))})"
    if op is Op.BEGINS_WITH:
        return f"begins_with({expr.path(path)}, {expr.value(to_av(cond.value))})"
    if info is not None and info.kind is Kind.BOOL:
        return None  # DynamoDB cannot order booleans
    if op in _COMPARE:
        return f"{expr.path(path)} {_COMPARE[op]} {expr.value(to_av(cond.value, info))}"
    if op is Op.BETWEEN:
        low, high = cond.value
        try:
            empty = compare_values(low, high) > 0
        except TypeError:
            empty = False
        if empty:
            return expr.false(path)
        p = expr.path(path)
        return f"{p} BETWEEN {expr.value(to_av(low, info))} AND {expr.value(to_av(high, info))}"
    raise AssertionError(f"unhandled operator {op}")  # pragma: no cover


def _in(path: str, values: Sequence[Any], expr: Expression, info: FieldInfo | None) -> str:
    wanted = list(dict.fromkeys(v for v in values if v is not None))
    parts: list[str | None] = []
    if any(v is None for v in values):
        parts.append(expr.nullish(path))
    p = expr.path(path)
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        operands = ", ".join(expr.value(to_av(v, info)) for v in chunk)
        parts.append(f"{p} IN ({operands})")
    return join("OR", parts) or expr.false(path)


def projection(expr: Expression, attributes: Mapping[str, None] | Sequence[str]) -> str:
    return ", ".join(expr.path(a) for a in attributes)
