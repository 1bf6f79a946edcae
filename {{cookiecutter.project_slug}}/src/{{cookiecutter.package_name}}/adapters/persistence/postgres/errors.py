"""Driver errors to kit errors: nothing from SQLAlchemy or asyncpg leaves the adapter."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy.exc as sa_exc

from ....ports.errors import AlreadyExists, BackendUnavailable, InvalidInput, KitError

log = logging.getLogger(__name__)

BACKEND = "postgres"
UNIQUE_VIOLATION = "23505"
_KEY_DETAIL = re.compile(r"Key \((?P<columns>.+?)\)=\((?P<value>.*)\) already exists")


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
    constraint_fields: Mapping[str, str],
    records: Sequence[Mapping[str, Any]] = (),
) -> AlreadyExists:
    """Name the field whose unique index (or primary key) refused the write, and its value
    (typed, from the records written, when one of them holds the value the database quotes)."""
    driver = _driver_error(exc)
    constraint = getattr(driver, "constraint_name", None) or ""
    detail = getattr(driver, "detail", None) or ""
    field = constraint_fields.get(constraint)
    match = _KEY_DETAIL.search(detail)
    if field is None:
        field = match.group("columns") if match else "unique field"
    value: Any = match.group("value") if match else None
    for record in records:
        candidate = record.get(field)
        if candidate is not None and (value is None or _quoted(candidate) == value):
            return AlreadyExists(entity, field, candidate)
    return AlreadyExists(entity, field, value)


def _quoted(value: Any) -> str:
    return str(value.value if hasattr(value, "value") else value)


def translate(exc: BaseException, entity: str) -> KitError:
    """A kit error for any database failure (unique violations are handled by the caller)."""
    state = sqlstate(exc) or ""
    if not state and _bad_value(exc):
        return InvalidInput(f"{entity}: a value does not fit its column ({_first_line(exc)})")
    if state.startswith(("22", "23")):  # data exception, integrity violation
        driver = _driver_error(exc)
        message = getattr(driver, "message", None) or str(driver or exc).splitlines()[0]
        return InvalidInput(f"{entity}: the database refused the value ({message})")
    if state == "57014":
        return BackendUnavailable(BACKEND, "statement timeout")
    if state.startswith("42"):
        # undefined table/column: the schema is missing or behind the code
        log.error("postgres schema error for %s: %s", entity, exc)
        return BackendUnavailable(BACKEND, "schema out of date: run the migrations")
    if isinstance(exc, sa_exc.TimeoutError | TimeoutError):
        return BackendUnavailable(BACKEND, "timed out waiting for a connection")
    if isinstance(exc, OSError | ConnectionError):
        return BackendUnavailable(BACKEND, f"cannot connect ({type(exc).__name__})")
    log.warning("postgres error for %s (sqlstate %s): %s", entity, state or "-", exc)
    return BackendUnavailable(BACKEND, f"database error ({state or type(exc).__name__})")


def _bad_value(exc: BaseException) -> bool:
    """A value the driver could not encode (asyncpg's DataError is a ValueError)."""
    return any(isinstance(current, ValueError | TypeError) for current in _chain(exc))


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).splitlines()[0][:200]


DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.StatementError,
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
