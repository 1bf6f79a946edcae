"""The query vocabulary compiled to MongoDB query documents.

Every operator keeps the reference semantics of :mod:`..evaluation` (the contract suite
checks them against the memory backend):

- ``{"a": None}`` and ``not_exists`` are ``{a: null}``, which MongoDB matches for null *and*
  missing; ``exists`` is ``{a: {$ne: null}}``; ``ne`` / ``not_in`` are ``$ne`` / ``$nin``,
  which match null and missing too; order comparisons never match null (type bracketing).
- ``contains`` on text is an escaped, unanchored regex; on a list or set field it is element
  equality (``{tags: "red"}``). ``begins_with`` / ``endswith`` and the case-insensitive ``i*``
  operators are anchored, escaped regexes (``i`` option for the ``i*`` ones). The end anchor
  is ``(?![\\s\\S])`` rather than ``$``, which also matches before a trailing newline.
- Equality on a set field is set equality (``$all`` + ``$size``), whatever the stored order.
- Sorting is native: BSON orders null and missing before every value, as the kit does, and
  every sort ends with ``_id``; keyset pagination resumes with an ``$or`` of tuple comparisons
  on the sort values of the last row, honouring nulls-first in both directions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ....ports.query import Condition, Filter, Op, Or, SortField
from ....ports.schema import EntitySchema, Kind
from .codec import to_bson

Document = dict[str, Any]

MATCH_NOTHING: Document = {"_id": {"$in": []}}

_END = r"(?![\s\S])"  # end of the string, in PCRE and in Python's re alike


def field_path(path: str, id_field: str) -> str:
    return "_id" if path == id_field else path


def compile_filter(tree: Filter | None, schema: EntitySchema, id_field: str) -> Document:
    if tree is None:
        return {}
    if isinstance(tree, Condition):
        return _condition(tree, schema, id_field)
    parts = [compile_filter(item, schema, id_field) for item in tree.items]
    if isinstance(tree, Or):
        return {"$or": parts}
    return all_of(*parts)


def all_of(*parts: Document) -> Document:
    """The AND of query documents, dropping the empty ones: one document when no two parts
    name the same key (what a hand-written query looks like), else ``$and``."""
    kept = [p for p in parts if p]
    if not kept:
        return {}
    if len(kept) == 1:
        return kept[0]
    merged: Document = {}
    for part in kept:
        for key, value in part.items():
            if key in merged:
                return {"$and": kept}
            merged[key] = value
    return merged


def _regex(pattern: str, *, ignore_case: bool) -> Document:
    return {"$regex": pattern, "$options": "i"} if ignore_case else {"$regex": pattern}


def _condition(condition: Condition, schema: EntitySchema, id_field: str) -> Document:
    path = field_path(condition.field, id_field)
    info = schema.resolve(condition.field)
    kind = info.kind if info is not None else Kind.ANY
    op, value = condition.op, condition.value
    collection = kind in (Kind.LIST, Kind.SET)

    if op is Op.EQ:
        return _equals(path, kind, value)
    if op is Op.NE:
        if collection and value is not None:
            return {"$nor": [_equals(path, kind, value)]}
        return {path: {"$ne": to_bson(value)}}
    if op in (Op.GT, Op.GTE):
        return {path: {f"${op.value}": to_bson(value)}}
    if op in (Op.LT, Op.LTE):
        # MongoDB never matches null with $lt/$lte (type bracketing); the explicit $ne keeps
        # that true on emulators that do (mongoeco 4.11 matches an explicit null).
        return {path: {f"${op.value}": to_bson(value), "$ne": None}}
    if op is Op.BETWEEN:
        low, high = value
        return {path: {"$gte": to_bson(low), "$lte": to_bson(high)}}
    if op is Op.IN:
        if collection:
            return {"$or": [_equals(path, kind, v) for v in value]} if value else MATCH_NOTHING
        return {path: {"$in": [to_bson(v) for v in value]}}
    if op is Op.NOT_IN:
        if collection:
            return {"$nor": [_equals(path, kind, v) for v in value]} if value else {}
        return {path: {"$nin": [to_bson(v) for v in value]}}
    if op is Op.EXISTS:
        return {path: {"$ne": None}}
    if op is Op.NOT_EXISTS:
        return {path: None}
    if op is Op.CONTAINS:
        if kind is Kind.STR:
            return {path: _regex(re.escape(value), ignore_case=False)}
        if collection:
            return {path: to_bson(value)}
        # Untyped value (a dict attribute): substring of a string, or member of a list.
        alternatives: list[Document] = [{path: {"$elemMatch": {"$eq": to_bson(value)}}}]
        if isinstance(value, str):
            substring = {"$type": "string", **_regex(re.escape(value), ignore_case=False)}
            alternatives.append(all_of({path: substring}, _not_array(path)))
        return {"$or": alternatives}
    text = re.escape(value)
    patterns = {
        Op.ICONTAINS: (text, True),
        Op.BEGINS_WITH: ("^" + text, False),
        Op.ISTARTSWITH: ("^" + text, True),
        Op.ENDSWITH: (text + _END, False),
        Op.IENDSWITH: (text + _END, True),
    }
    pattern, ignore_case = patterns[op]
    return {path: _regex(pattern, ignore_case=ignore_case)}


def _equals(path: str, kind: Kind, value: Any) -> Document:
    if value is None:
        return {path: None}
    if kind is Kind.SET and isinstance(value, set | frozenset | list | tuple):
        items = to_bson(set(value))
        if not items:
            return {path: {"$size": 0}}
        return {path: {"$all": items, "$size": len(items)}}
    scalar = not isinstance(value, list | tuple | set | frozenset)
    if kind in (Kind.LIST, Kind.SET) and scalar:
        return MATCH_NOTHING  # a whole list never equals one element
    if kind in (Kind.ANY, Kind.DICT) and scalar:
        # MongoDB would also match an array holding the value; the kit compares whole values.
        return all_of({path: {"$eq": to_bson(value)}}, _not_array(path))
    return {path: {"$eq": to_bson(value)}}


def _not_array(path: str) -> Document:
    return {path: {"$not": {"$type": "array"}}}


# --- sort and keyset -------------------------------------------------------------------------


def compile_sort(sort: Sequence[SortField], id_field: str) -> list[tuple[str, int]]:
    return [(field_path(s.field, id_field), -1 if s.descending else 1) for s in sort]


def keyset_after(sort: Sequence[SortField], values: Sequence[Any], id_field: str) -> Document:
    """Rows strictly after the row whose sort values are ``values`` (nulls first ascending)."""
    branches: list[Document] = []
    prefix: list[Document] = []
    for item, value in zip(sort, values, strict=True):
        path = field_path(item.field, id_field)
        bson_value = to_bson(value)
        beyond: Document | None
        if not item.descending:
            beyond = {path: {"$ne": None}} if value is None else {path: {"$gt": bson_value}}
        elif value is None:
            beyond = None  # nothing sorts below null
        else:
            beyond = {"$or": [{path: {"$lt": bson_value}}, {path: None}]}
        if beyond is not None:
            branches.append(all_of(*prefix, beyond))
        prefix.append({path: None} if value is None else {path: bson_value})
    if not branches:
        return MATCH_NOTHING
    return branches[0] if len(branches) == 1 else {"$or": branches}
