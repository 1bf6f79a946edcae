"""Pieces every repository adapter shares, so each adapter only writes what its database
does differently."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from ...ports.errors import (
    ConcurrencyConflict,
    ConditionFailed,
    InvalidInput,
    InvalidQuery,
    NotFound,
)
from ...ports.query import (
    Filter,
    FilterInput,
    Page,
    PreparedQuery,
    Query,
    SortField,
    keyset_cursor,
    parse_filter,
    prepare_query,
)
from ...ports.schema import EntitySchema, Kind, unstorable
from .codec import from_record, to_record
from .domain_pass import domain_pass
from .evaluation import get_path
from .registry import EntitySpec, Relation

T = TypeVar("T")


def prepare(spec: EntitySpec[Any], query: Query | None) -> PreparedQuery:
    return prepare_query(
        query, spec.schema, spec.id_field, key=spec.cursor_key, scope=spec.collection
    )


def parse_conditions(spec: EntitySpec[Any], conditions: FilterInput | None) -> Filter | None:
    return parse_filter(conditions, spec.schema)


def entity_id(spec: EntitySpec[Any], entity: Any) -> str:
    value = getattr(entity, spec.id_field)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{spec.name}.{spec.id_field} must be a non-empty string")
    return value


def version_of(spec: EntitySpec[Any], entity: Any) -> int | None:
    if spec.version_field is None:
        return None
    return int(getattr(entity, spec.version_field))


def with_version(spec: EntitySpec[Any], entity: T, version: int) -> T:
    """``entity`` holding ``version`` (its constructor runs again: pass validated entities)."""
    if spec.version_field is None:
        return entity
    return dataclasses.replace(entity, **{spec.version_field: version})  # type: ignore[type-var]


def new_record(spec: EntitySpec[T], entity: T) -> tuple[str, T, dict[str, Any]]:
    """What ``add`` stores: the key, the entity through its constructor at version 1 (one
    constructor call), and its record."""
    entity_id(spec, entity)
    built = domain_pass(spec).rebuild_record(spec, entity, version=1)
    if built is None:
        record = to_record(entity)
        if spec.version_field is not None:
            record[spec.version_field] = 1
        built = through_domain_record(spec, record)
    stored, record = built
    return entity_id(spec, stored), stored, record


def check_changes(spec: EntitySpec[Any], changes: Mapping[str, Any]) -> None:
    """Refuse changes to the id, the version and unknown fields."""
    fields = spec.schema.fields
    for name in changes:
        if name not in fields:
            raise InvalidInput(f"{spec.name} has no field {name!r}")
        if name in (spec.id_field, spec.version_field):
            raise InvalidInput(f"{spec.name}.{name} cannot be changed")


def apply_changes(spec: EntitySpec[T], current: T, changes: Mapping[str, Any]) -> T:
    """``current`` with ``changes`` applied, through the entity's constructor (validation and
    normalisation included); refuses the id, the version and unknown fields."""
    check_changes(spec, changes)
    return through_domain(spec, {**to_record(current), **changes})


class GuardedFieldUpdates(Generic[T]):
    """update_fields for a repository whose writes go through _guarded_write (read the
    row, build the new entity through the domain, write it guarded by what was read): memory
    and MongoDB."""

    spec: EntitySpec[T]

    async def _guarded_write(
        self,
        key: str,
        change: Callable[[T], T],
        expected_version: int | None,
        conditions: FilterInput | None,
        rejection_message: str | None,
    ) -> T:
        raise NotImplementedError

    async def update_fields(
        self,
        id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        conditions: FilterInput | None = None,
        rejection_message: str | None = None,
    ) -> T:
        check_changes(self.spec, changes)
        return await self._guarded_write(
            id,
            lambda current: apply_changes(self.spec, current, changes),
            expected_version,
            conditions,
            rejection_message,
        )


def through_domain(spec: EntitySpec[T], entity: T | Mapping[str, Any]) -> T:
    """The entity as its constructor builds it from these values: every write stores this.

    Rebuilding runs ``__init__``/``__post_init__`` again, so a dataclass mutated after it was
    constructed, or merged with partial changes, is validated and normalised exactly like a
    new one. The entity's own errors (a ``DomainError``...) propagate unchanged; a value of the
    wrong type, or one no backend can hold alike (see ``ports.schema.unstorable``), is
    ``InvalidInput``. Nothing has been written when this raises.
    """
    return through_domain_record(spec, entity)[0]


def through_domain_record(
    spec: EntitySpec[T], entity: T | Mapping[str, Any]
) -> tuple[T, dict[str, Any]]:
    """``through_domain``, with the rebuilt entity's ``to_record`` (made for the checks
    anyway): the record to store, when nothing changes the entity afterwards."""
    if not isinstance(entity, Mapping):
        built = domain_pass(spec).rebuild_record(spec, entity)  # the same, planned per shape
        if built is not None:
            return built
    record = dict(entity) if isinstance(entity, Mapping) else to_record(entity)
    for name in _required(spec.schema):
        if record.get(name, ...) is None:
            raise InvalidInput(f"{spec.name}.{name} cannot be null")
    try:
        rebuilt = from_record(spec.entity, record)
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"{spec.name}: {exc}") from exc
    stored = to_record(rebuilt)
    problem = next(
        (f"{name}: {p}" for name, v in stored.items() if (p := unstorable(v))),
        None,
    )
    if problem is not None:
        raise InvalidInput(f"{spec.name}.{problem}")
    return rebuilt, stored


def _required(schema: EntitySchema) -> tuple[str, ...]:
    """The fields that cannot hold null (computed once per entity)."""
    found = _REQUIRED.get(schema.entity)
    if found is None:
        fields = schema.fields.items()
        found = tuple(n for n, i in fields if not i.optional and i.kind is not Kind.ANY)
        _REQUIRED[schema.entity] = found
    return found


_REQUIRED: dict[type[Any], tuple[str, ...]] = {}


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in after.items() if before.get(k, None) != v or k not in before}


def unique_values(spec: EntitySpec[Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """The unique fields that hold a value (nulls are never unique-checked)."""
    return {f: record[f] for f in spec.unique if record.get(f) is not None}


def unique_key_values(
    spec: EntitySpec[Any], record: Mapping[str, Any]
) -> dict[tuple[str, ...], tuple[Any, ...]]:
    """Every unique constraint (single and compound) whose fields all hold a value, with those
    values: a compound constraint with a null part is never checked, as in SQL."""
    found: dict[tuple[str, ...], tuple[Any, ...]] = {}
    for fields in spec.unique_keys:
        values = tuple(record.get(f) for f in fields)
        if all(v is not None for v in values):
            found[fields] = values
    return found


def referencing(
    specs: Iterable[EntitySpec[Any]], name: str
) -> list[tuple[EntitySpec[Any], Relation]]:
    """The enforced relations among ``specs`` whose target is the entity ``name``."""
    return [(spec, rel) for spec in specs for rel in spec.references.values() if rel.target == name]


def unique_label(fields: Sequence[str]) -> str:
    """How ``AlreadyExists.field`` names a constraint: ``sku``, or ``member_id+task_id``."""
    return "+".join(fields)


def diagnose_write(
    spec: EntitySpec[Any],
    key: str,
    stored: Mapping[str, Any] | None,
    expected_version: int | None,
    rejection_message: str | None,
) -> Exception:
    """Why a guarded write changed nothing: missing row, stale version, or false condition."""
    if stored is None:
        return NotFound(spec.name, key)
    if (
        expected_version is not None
        and spec.version_field is not None
        and stored.get(spec.version_field) != expected_version
    ):
        return ConcurrencyConflict(spec.name, key, expected_version)
    return ConditionFailed(rejection_message or f"the condition on {spec.name} {key!r} failed")


def expired(spec: EntitySpec[Any], record: Mapping[str, Any], now: dt.datetime) -> bool:
    if spec.ttl_field is None:
        return False
    value = record.get(spec.ttl_field)
    if value is None:
        return False
    if isinstance(value, dt.datetime):
        return value <= now
    return float(value) <= now.timestamp()


def page_of(
    spec: EntitySpec[Any],
    records: Sequence[dict[str, Any]],
    prepared: PreparedQuery,
    has_more: bool,
) -> tuple[list[dict[str, Any]], str | None, int | None]:
    """Trim a fetched window (one row more than the limit) into a page and its cursors."""
    rows = list(records[: prepared.limit] if prepared.limit is not None else records)
    if not has_more or not rows:
        return rows, None, None
    last = rows[-1]
    cursor = keyset_cursor(prepared, [get_path(last, s.field) for s in prepared.sort])
    return rows, cursor, prepared.offset + len(rows)


def build_page(
    spec: EntitySpec[T],
    records: Sequence[dict[str, Any]],
    prepared: PreparedQuery,
    revive: Any,
) -> Page[T]:
    has_more = prepared.limit is not None and len(records) > prepared.limit
    rows, cursor, next_offset = page_of(spec, records, prepared, has_more)
    return Page([revive(r) for r in rows], cursor, next_offset)


def validate_field(spec: EntitySpec[Any], field: str) -> None:
    if spec.schema.resolve(field) is None:
        raise InvalidQuery(f"unknown field {field!r} for {spec.name}")


def default_sort(spec: EntitySpec[Any]) -> tuple[SortField, ...]:
    return (SortField(spec.id_field),)


def record_of(entity: Any) -> dict[str, Any]:
    return to_record(entity)


class DerivedReads(Generic[T]):
    """The reads every adapter derives from its own ``get`` and ``find``: written once here."""

    spec: EntitySpec[T]

    async def get(self, id: str) -> T | None:
        raise NotImplementedError

    async def find(self, query: Query | None = None) -> Page[T]:
        raise NotImplementedError

    async def get_or_raise(self, id: str) -> T:
        found = await self.get(id)
        if found is None:
            raise NotFound(self.spec.name, id)
        return found

    async def find_all(self, filter: FilterInput | None = None, sort: str | None = None) -> list[T]:
        return (await self.find(Query(filter=filter, sort=sort))).items

    async def find_one(self, filter: FilterInput) -> T | None:
        page = await self.find(Query(filter=filter, limit=1))
        return page.items[0] if page.items else None
