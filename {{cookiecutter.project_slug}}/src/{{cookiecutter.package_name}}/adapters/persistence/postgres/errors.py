"""Driver errors to kit errors: nothing from SQLAlchemy or asyncpg leaves the adapter.

Kit error messages reach HTTP bodies, so they say what happened in plain words and never
carry the driver's text, an exception's class name or a SQLSTATE; those are logged (warning,
or error for a schema that is behind the code) for whoever runs the service.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import asyncpg
import sqlalchemy.exc as sa_exc

from ....ports.errors import (
    AlreadyExists,
    BackendUnavailable,
    InvalidInput,
    KitError,
    ReferenceNotFound,
    StillReferenced,
)
from ..common import unique_label
from ..registry import EntitySpec, Relation

log = logging.getLogger(__name__)

BACKEND = "postgres"
UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
IN_FAILED_TRANSACTION = "25P02"
_KEY_DETAIL = re.compile(r"Key \((?P<columns>.+?)\)=\((?P<value>.*)\) already exists")
_FK_DETAIL = re.compile(r"Key \((?P<columns>.+?)\)=\((?P<value>.*)\) is (?:not present|still)")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error, then what it wraps (SQLAlchemy's ``orig``, then ``__cause__``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        nxt = getattr(current, "orig", None)
        current = nxt if isinstance(nxt, BaseException) else current.__cause__


def _driver_error(exc: BaseException) -> Any:
    """The innermost error that carries a SQLSTATE (asyncpg's), if any."""
    found: Any = None
    for current in _chain(exc):
        if getattr(current, "sqlstate", None):
            found = current
    return found


def sqlstate(exc: BaseException) -> str | None:
    driver = _driver_error(exc)
    return None if driver is None else str(driver.sqlstate)


def already_exists(
    entity: str,
    exc: BaseException,
    constraint_fields: Mapping[str, tuple[str, ...]],
    records: Sequence[Mapping[str, Any]] = (),
) -> AlreadyExists:
    """Name the fields whose unique index (or primary key) refused the write, and their value
    (typed, from the records written, when one of them holds the value the database quotes):
    ``AlreadyExists(entity, "a+b", (va, vb))`` for a compound constraint."""
    driver = _driver_error(exc)
    constraint = getattr(driver, "constraint_name", None) or ""
    detail = getattr(driver, "detail", None) or ""
    match = _KEY_DETAIL.search(detail)
    fields = constraint_fields.get(constraint)
    if fields is None:
        columns = match.group("columns") if match else ""
        fields = tuple(c.strip().strip('"') for c in columns.split(",") if c.strip())
    quoted: str | None = match.group("value") if match else None
    for record in records:
        values = tuple(record.get(f) for f in fields)
        if not values or any(v is None for v in values):
            continue
        if quoted is None or ", ".join(_quoted(v) for v in values) == quoted:
            return AlreadyExists(entity, _label(fields), values[0] if len(values) == 1 else values)
    value: Any = quoted
    if quoted is not None and len(fields) > 1:
        parts = tuple(quoted.split(", "))
        value = parts if len(parts) == len(fields) else quoted
    return AlreadyExists(entity, _label(fields), value)


def _label(fields: Sequence[str]) -> str:
    return unique_label(fields) if fields else "unique field"


def reference_detail(exc: BaseException) -> tuple[str | None, str | None]:
    """The foreign key a violation names, and the key value the database quotes (if any)."""
    driver = _driver_error(exc)
    constraint = getattr(driver, "constraint_name", None)
    detail = getattr(driver, "detail", None) or ""
    match = _FK_DETAIL.search(detail)
    return constraint, (match.group("value") if match else None)


def refused_write(
    exc: BaseException,
    spec: EntitySpec[Any],
    constraint_fields: Mapping[str, tuple[str, ...]],
    foreign_keys: Mapping[str, tuple[EntitySpec[Any], Relation]],
    records: Sequence[Mapping[str, Any]],
    deleting: Sequence[str] | None,
) -> KitError:
    """The kit error for an integrity violation: a unique index (``AlreadyExists``), a foreign
    key (:func:`reference_error`), or another constraint (:func:`translate`)."""
    state = sqlstate(exc)
    if state == UNIQUE_VIOLATION:
        return already_exists(spec.name, exc, constraint_fields, records)
    if state == FOREIGN_KEY_VIOLATION:
        return reference_error(exc, spec, foreign_keys, records, deleting)
    return translate(exc, spec.name)


def reference_error(
    exc: BaseException,
    spec: EntitySpec[Any],
    foreign_keys: Mapping[str, tuple[EntitySpec[Any], Relation]],
    records: Sequence[Mapping[str, Any]],
    deleting: Sequence[str] | None,
) -> KitError:
    """A foreign key refused the statement: a delete of a target something still points
    at (``StillReferenced``), or a child written pointing at nothing (``ReferenceNotFound``).
    ``foreign_keys`` are the enforced relations by the name of their key; ``records`` the rows
    written; ``deleting`` the ids a delete targets."""
    constraint, quoted = reference_detail(exc)
    found = foreign_keys.get(constraint or "")
    if deleting is not None:
        # The refused row may be one a cascade reached, so the key names the target.
        child, rel = found if found is not None else (None, None)
        target = rel.target if rel is not None else spec.name
        key: Any = quoted
        if key is None:
            key = deleting[0] if len(deleting) == 1 else list(deleting)
        holder = f"{child.name}.{rel.local_field}" if child and rel else "other records"
        return StillReferenced(target, key, holder)
    rel = _relation(spec, found)
    value: Any = quoted
    for record in records:
        candidate = record.get(rel.local_field)
        if candidate is not None and (quoted is None or str(candidate) == quoted):
            value = candidate
            break
    return ReferenceNotFound(spec.name, rel.local_field, value, rel.target)


def _relation(spec: EntitySpec[Any], found: tuple[EntitySpec[Any], Relation] | None) -> Relation:
    if found is not None and found[0].name == spec.name:
        return found[1]
    references = list(spec.references.values())
    return references[0] if references else Relation(target="?", local_field="reference")


def _quoted(value: Any) -> str:
    return str(value.value if hasattr(value, "value") else value)


def translate(exc: BaseException, entity: str) -> KitError:
    """A kit error for any database failure (unique and foreign key violations are handled by
    the caller). The message says what happened in plain words; the driver's text, the
    exception's class and the SQLSTATE only go to the log."""
    state = sqlstate(exc) or ""
    error = _translate(exc, entity, state)
    level = logging.ERROR if state.startswith("42") else logging.WARNING
    log.log(
        level,
        "postgres error for %s (sqlstate %s, %s): %s",
        entity,
        state or "-",
        type(exc).__name__,
        _first_line(exc),
    )
    return error


def _translate(exc: BaseException, entity: str, state: str) -> KitError:
    if state.startswith("22") or (not state and _bad_value(exc)):
        # a data exception (out of range, bad encoding...) or a value the driver cannot encode
        return InvalidInput(f"{entity}: a value cannot be stored in its column")
    if state.startswith("23"):  # integrity violation (not null, check...)
        return InvalidInput(f"{entity}: the database refused the record (it breaks a constraint)")
    if state == "57014":
        return BackendUnavailable(BACKEND, "a statement took too long and was cancelled")
    if state == IN_FAILED_TRANSACTION:
        return BackendUnavailable(BACKEND, "an earlier error aborted this unit of work")
    if state in ("40001", "40P01"):  # serialization failure, deadlock
        return BackendUnavailable(BACKEND, "a concurrent transaction got in the way; retry")
    if state.startswith("42"):
        # undefined table/column: the schema is missing or behind the code
        return BackendUnavailable(BACKEND, "schema out of date: run the migrations")
    if isinstance(exc, sa_exc.TimeoutError | TimeoutError):
        return BackendUnavailable(BACKEND, "timed out waiting for a connection")
    if isinstance(exc, OSError | ConnectionError) or _lost_connection(exc):
        return BackendUnavailable(BACKEND, "cannot connect to the database")
    return BackendUnavailable(BACKEND, "the database failed to answer")


def _lost_connection(exc: BaseException) -> bool:
    return any(
        isinstance(current, sa_exc.InterfaceError)
        or getattr(current, "connection_invalidated", False)
        or connection_lost(current)
        for current in _chain(exc)
    )


def connection_lost(exc: BaseException) -> bool:
    """Whether the connection failed (closed, reset, the server shutting down), rather than
    the statement: the connection cannot be used again."""
    if isinstance(exc, asyncpg.DataError):  # a value the driver refused to send
        return False
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.PostgresConnectionError | OSError):
        return True
    return str(getattr(exc, "sqlstate", "")) in _SERVER_GONE


_SERVER_GONE = frozenset({"57P01", "57P02", "57P03"})  # admin / crash shutdown, cannot connect


def _bad_value(exc: BaseException) -> bool:
    """A value the driver could not encode (asyncpg's DataError is a ValueError)."""
    return any(isinstance(current, ValueError | TypeError) for current in _chain(exc))


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return (text.splitlines() or [""])[0][:300]


DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,  # the server refused the statement
    asyncpg.InterfaceError,  # a value the driver cannot send, or a connection gone
    asyncpg.InternalClientError,
    sa_exc.StatementError,  # schema creation runs through SQLAlchemy
    sa_exc.TimeoutError,
    sa_exc.InterfaceError,
    OSError,
    TimeoutError,
)


@contextmanager
def translated(entity: str) -> Iterator[None]:
    try:
        yield
    except DATABASE_ERRORS as exc:
        raise translate(exc, entity) from exc
