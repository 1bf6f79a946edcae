"""The query vocabulary: filters, sort, pagination and opaque cursors (signed in
:mod:`.cursors`).

One dict syntax covers both criteria languages users know (generic-repo's and persistence-kit's)
with the semantics fixed: a bare list means ``in``, a dict of operators ANDs them together,
``None`` means "null or missing", ``exists: False`` means "does not exist", and an unknown field
or operator is an :class:`InvalidQuery`, never a silent equality.

    {"status": "active"}                          equality
    {"status": ["open", "pending"]}               in
    {"price": {"gte": 10, "lt": 100}}             AND of both
    {"email": {"exists": True}}                   exists
    {"or": [{"a": 1}, {"b": {"ne": 2}}]}          OR group ("and" groups too)
    {"address.city": {"istartswith": "par"}}      dotted path into a nested value
    {"author.name": "Ada"}                        dotted path through a relation (view layer)

Adapters compile the parsed tree (:class:`Condition`, :class:`And`, :class:`Or`) to their
native query language; nothing is filtered client-side where the database can do it.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .cursors import CursorSigner as CursorSigner
from .cursors import backend_cursor as backend_cursor
from .cursors import decode_keyset
from .cursors import filter_fingerprint as filter_fingerprint
from .cursors import keyset_cursor as keyset_cursor
from .cursors import sort_signature as sort_signature
from .errors import InvalidQuery
from .schema import EntitySchema, FieldInfo, Kind, coerce, unstorable
from .sorting import SortField as SortField
from .sorting import parse_sort as parse_sort

T = TypeVar("T")

MAX_IN_VALUES = 1000


class Op(enum.StrEnum):
    """A filter operator; OPERATOR_ALIASES maps the spellings the filter syntax accepts to these."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    BETWEEN = "between"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    ICONTAINS = "icontains"
    BEGINS_WITH = "begins_with"
    ISTARTSWITH = "istartswith"
    ENDSWITH = "endswith"
    IENDSWITH = "iendswith"
    EXISTS = "exists"
    NOT_EXISTS = "not_exists"


OPERATOR_ALIASES: dict[str, Op] = {
    **{op.value: op for op in Op},
    "le": Op.LTE,
    "ge": Op.GTE,
    "neq": Op.NE,
    "nin": Op.NOT_IN,
    "startswith": Op.BEGINS_WITH,
    "starts_with": Op.BEGINS_WITH,
    "ends_with": Op.ENDSWITH,
}

_STRING_OPS = frozenset({Op.ICONTAINS, Op.BEGINS_WITH, Op.ISTARTSWITH, Op.ENDSWITH, Op.IENDSWITH})
_ORDER_OPS = frozenset({Op.LT, Op.LTE, Op.GT, Op.GTE, Op.BETWEEN})
_GROUP_KEYS = {"or": "or", "and": "and", "$or": "or", "$and": "and"}
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


@dataclass(frozen=True, init=False)
class Condition:
    """One test of one field (a dotted path for nested values or relations)."""

    field: str
    op: Op
    value: Any = None

    def __init__(self, field: str, op: Op, value: Any = None) -> None:
        # Straight into the instance dict: a generated frozen ``__init__`` calls
        # ``object.__setattr__`` per field, twice the cost, and every query makes conditions.
        fields = self.__dict__
        fields["field"], fields["op"], fields["value"] = field, op, value

    def __repr__(self) -> str:
        # The dataclass's own format, made once: a cursor is bound to the filter's repr, and
        # remembered conditions recur in many queries.
        text: str | None = self.__dict__.get("_repr")
        if text is None:
            text = f"Condition(field={self.field!r}, op={self.op!r}, value={self.value!r})"
            self.__dict__["_repr"] = text
        return text


@dataclass(frozen=True)
class And:
    """Every item must hold."""

    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    """At least one item must hold."""

    items: tuple[Filter, ...]


Filter = Condition | And | Or
FilterInput = Filter | Mapping[str, Any]


def parse_filter(
    raw: FilterInput | None,
    schema: EntitySchema | None = None,
    *,
    relations: Sequence[str] = (),
) -> Filter | None:
    """Parse the dict syntax (or pass through a parsed tree), validating against ``schema``.

    With a schema every field must exist (dotted paths into nested values included) and every
    value is coerced to the field's type, so ``"2024-01-01"`` compares as a date. A path whose
    first part is one of ``relations`` is kept as is for the view layer to resolve.
    """
    if raw is None:
        return None
    if type(raw) is dict and len(raw) == 1 and schema is not None:
        # The usual filter, one field equal to a JSON value, parsed straight to its condition.
        ((name, value),) = raw.items()
        plain = type(value) in _JSON_SCALARS and type(name) is str and name
        if plain and name.lower() not in _GROUP_KEYS:
            return _equality(name, value, schema, relations)
    elif type(raw) is not dict:
        if isinstance(raw, Condition | And | Or):
            return _validate(raw, schema, relations) if schema else raw
        if not isinstance(raw, Mapping):
            raise InvalidQuery("a filter must be a JSON object of field -> value or operators")
    items: list[Filter] = []
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            raise InvalidQuery("filter keys must be non-empty field names")
        group = _GROUP_KEYS.get(key.lower())
        if group is not None:
            items.append(_parse_group(group, value, schema, relations))
        else:
            items.extend(_parse_field(key, value, schema, relations))
    if len(items) == 1:
        return items[0]
    return And(tuple(items))


def parse_equality(field: str, value: Any, schema: EntitySchema) -> Condition:
    """``parse_filter({field: {"eq": value}}, schema)``, for a lookup by one field."""
    if not isinstance(field, str) or not field:
        raise InvalidQuery("filter keys must be non-empty field names")
    return _equality(field, value, schema, ())


MAX_REMEMBERED_EQUALITIES = 512


def _equality(field: str, value: Any, schema: EntitySchema, relations: Sequence[str]) -> Condition:
    """``_checked(field, Op.EQ, value, ...)``, remembered per schema: the same lookups recur
    (a status, a tenant, an owner), and a condition is immutable. Only successes are kept,
    at most ``MAX_REMEMBERED_EQUALITIES`` per schema (then it starts over); the value's type is
    part of the key, so ``1``, ``1.0`` and ``True`` stay apart."""
    if relations and "." in field:
        return _checked(field, Op.EQ, value, schema, relations)
    remembered = schema.equalities
    key = (field, type(value), value)
    try:
        found: Condition | None = remembered.get(key)
    except TypeError:  # an unhashable value: nothing to remember it by
        return _checked(field, Op.EQ, value, schema, relations)
    if found is None:
        found = _checked(field, Op.EQ, value, schema, relations)
        if len(remembered) >= MAX_REMEMBERED_EQUALITIES:
            remembered.clear()
        remembered[key] = found
    return found


def _parse_group(
    group: str, value: Any, schema: EntitySchema | None, relations: Sequence[str]
) -> Filter:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidQuery(f"'{group}' takes a non-empty list of filters")
    parts: list[Filter] = []
    for sub in value:
        parsed = parse_filter(sub, schema, relations=relations)
        if parsed is None:
            raise InvalidQuery(f"'{group}' items must be filters")
        parts.append(parsed)
    return Or(tuple(parts)) if group == "or" else And(tuple(parts))


def _parse_field(
    name: str, value: Any, schema: EntitySchema | None, relations: Sequence[str]
) -> list[Filter]:
    if type(value) in _JSON_SCALARS and schema is not None:  # equality, the usual test
        return [_equality(name, value, schema, relations)]
    if isinstance(value, Mapping):
        if not value:
            raise InvalidQuery(f"empty operator object for {name!r}")
        unknown = [k for k in value if not isinstance(k, str) or k.lower() not in OPERATOR_ALIASES]
        if unknown:
            known = ", ".join(op.value for op in Op)
            raise InvalidQuery(f"unknown operator(s) {unknown!r} for {name!r}; use one of: {known}")
        tests = [_operation(name, OPERATOR_ALIASES[k.lower()], v) for k, v in value.items()]
    elif isinstance(value, list | tuple | set | frozenset):
        tests = [_operation(name, Op.IN, list(value))]
    else:
        tests = [_operation(name, Op.EQ, value)]
    if schema is not None:
        return [_checked(name, op, operand, schema, relations) for op, operand in tests]
    return [Condition(name, op, operand) for op, operand in tests]


def _operation(name: str, op: Op, value: Any) -> tuple[Op, Any]:
    """The operator and operand of one test of ``name``, their shapes checked."""
    # generic-repo wrote {"exists": False}; it means "does not exist" here.
    if op in (Op.EXISTS, Op.NOT_EXISTS):
        if not isinstance(value, bool):
            raise InvalidQuery(f"{op.value!r} on {name!r} takes true or false")
        exists = value if op is Op.EXISTS else not value
        return (Op.EXISTS if exists else Op.NOT_EXISTS), None
    if op is Op.BETWEEN:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise InvalidQuery(f"'between' on {name!r} takes a list of two values [low, high]")
        return op, (value[0], value[1])
    if op in (Op.IN, Op.NOT_IN):
        if not isinstance(value, list | tuple | set | frozenset):
            raise InvalidQuery(f"{op.value!r} on {name!r} takes a list of values")
        if len(value) > MAX_IN_VALUES:
            raise InvalidQuery(f"{op.value!r} on {name!r} takes at most {MAX_IN_VALUES} values")
        return op, tuple(value)
    if op in _STRING_OPS and not isinstance(value, str):
        raise InvalidQuery(f"{op.value!r} on {name!r} takes a string")
    if op in _ORDER_OPS and value is None:
        raise InvalidQuery(f"{op.value!r} on {name!r} cannot compare with null")
    return op, value


def _validate(tree: Filter, schema: EntitySchema, relations: Sequence[str]) -> Filter:
    if isinstance(tree, Condition):
        return _checked(tree.field, tree.op, tree.value, schema, relations)
    items = tuple(_validate(item, schema, relations) for item in tree.items)
    return And(items) if isinstance(tree, And) else Or(items)


def _checked(
    field: str, op: Op, value: Any, schema: EntitySchema, relations: Sequence[str]
) -> Condition:
    """The condition validated against ``schema``, its value coerced to the field's type."""
    if relations and "." in field and field.partition(".")[0] in relations:
        return Condition(field, op, value)  # resolved against the related entity by the view
    info = schema.fields.get(field) or schema.resolve(field)  # a field's name, or a path
    if info is None:
        names = ", ".join(sorted(schema.fields))
        raise InvalidQuery(f"unknown field {field!r} for {schema.entity.__name__}; fields: {names}")
    if op in _STRING_OPS and info.kind not in (Kind.STR, Kind.ANY, Kind.ENUM):
        raise InvalidQuery(f"{op.value!r} needs a text field; {field!r} is not one")
    if op in _ORDER_OPS and not (info.sortable or info.kind is Kind.ANY):
        raise InvalidQuery(f"{op.value!r} needs an ordered field; {field!r} is not one")
    if op is Op.CONTAINS and info.kind not in (Kind.STR, Kind.LIST, Kind.SET, Kind.ANY):
        raise InvalidQuery(f"'contains' needs a text or list field; {field!r} is not one")
    try:
        coerced = coerce(info, value) if op is Op.EQ else _coerce_value(info, op, value)
    except ValueError as exc:
        raise InvalidQuery(str(exc)) from exc
    return Condition(field, op, coerced)


def _coerce_value(info: FieldInfo, op: Op, value: Any) -> Any:
    if op in (Op.EXISTS, Op.NOT_EXISTS):
        return None
    if op in (Op.IN, Op.NOT_IN, Op.BETWEEN):
        return tuple(coerce(info, v) for v in value)
    if op in _STRING_OPS and info.kind is Kind.ENUM:
        return _storable(info, value)
    if op is Op.CONTAINS and info.kind is Kind.STR:
        if not isinstance(value, str):
            raise ValueError(f"'contains' on {info.name!r} takes a string")
        return _storable(info, value)
    return coerce(info, value)


def _storable(info: FieldInfo, value: Any) -> Any:
    problem = unstorable(value)
    if problem is not None:
        raise ValueError(f"{info.name!r}: {problem}")
    return value


def fields_of(tree: Filter | None) -> set[str]:
    """Every field path a filter mentions."""
    if tree is None:
        return set()
    if isinstance(tree, Condition):
        return {tree.field}
    return set().union(*(fields_of(item) for item in tree.items))


# --- pagination (sort orders are in :mod:`.sorting`) ----------------------------------------


@dataclass(frozen=True)
class Query:
    """What to fetch: a filter, an order, and one page (cursor or offset, not both).

    ``limit=None`` means every match (for internal use; the HTTP layer always sets a limit).
    Results are always ordered; ties are broken by the id, so pages never shift.
    """

    filter: FilterInput | None = None
    sort: Sequence[str | SortField] | str | None = None
    limit: int | None = None
    cursor: str | None = None
    offset: int | None = None
    # What cursors are bound to instead of the parsed filter: a view that rewrites relation
    # filters into id lists binds them to the filter it was given, so a related record that
    # changes between two pages does not void the cursor.
    binding: str | None = None

    def __post_init__(self) -> None:
        if self.cursor is not None and self.offset:
            raise InvalidQuery("use either a cursor or an offset, not both")
        if self.limit is not None and self.limit < 0:
            raise InvalidQuery("limit must not be negative")
        if self.offset is not None and self.offset < 0:
            raise InvalidQuery("offset must not be negative")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results: next_cursor fetches the next one (None on the last page); offset is set
    when the page was asked by offset."""

    items: list[T]
    next_cursor: str | None = None
    offset: int | None = None

    @property
    def has_more(self) -> bool:
        """Whether another page follows."""
        return self.next_cursor is not None


@dataclass(frozen=True)
class PreparedQuery:
    """A :class:`Query` validated against an entity: what adapters actually compile."""

    filter: Filter | None
    sort: tuple[SortField, ...]  # always ends with the id field
    limit: int | None
    offset: int
    after: tuple[Any, ...] | None  # keyset values of the last row of the previous page
    payload: Mapping[str, Any] | None = field(default=None)  # backend cursor (DynamoDB)
    signer: CursorSigner | None = field(default=None, repr=False)  # signs the next cursor


@functools.cache
def _by_id(id_field: str) -> tuple[SortField, ...]:
    return (SortField(id_field),)


def prepare_query(
    query: Query | None,
    schema: EntitySchema,
    id_field: str,
    *,
    relations: Sequence[str] = (),
    key: bytes = b"",
    scope: str = "",
) -> PreparedQuery:
    """Validate ``query`` against an entity. Cursors are checked against ``key`` (the HMAC
    key) and bound to ``scope`` (the collection), the sort and the filter: a cursor from any
    other query, or altered in any byte, is ``InvalidCursor``."""
    query = query or Query()
    tree = parse_filter(query.filter, schema, relations=relations)
    sort = parse_sort(query.sort, schema)
    if not sort:
        sort = _by_id(id_field)
    elif not any(s.field == id_field for s in sort):
        sort = (*sort, SortField(id_field))
    given = query.binding

    def binding() -> str:  # made only when a cursor is read or issued
        bound_to = given if given is not None else filter_fingerprint(tree)
        return f"{scope}|{sort_signature(sort)}|{bound_to}"

    signer = CursorSigner(key, binding)
    after: tuple[Any, ...] | None = None
    payload: Mapping[str, Any] | None = None
    if query.cursor is not None:
        decoded = signer.decode(query.cursor)
        if "k" in decoded:
            after = decode_keyset(decoded["k"], sort, schema)
        else:
            payload = decoded
    return PreparedQuery(tree, sort, query.limit, query.offset or 0, after, payload, signer)
