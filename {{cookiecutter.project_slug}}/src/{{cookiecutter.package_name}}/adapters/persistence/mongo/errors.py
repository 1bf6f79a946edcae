"""PyMongo exceptions translated into the kit's errors, in one place."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bson.errors import BSONError
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)

from ....ports.errors import (
    AlreadyExists,
    BackendUnavailable,
    InvalidInput,
    InvalidQuery,
    KitError,
)
from .codec import from_bson

BACKEND = "mongo"
DUPLICATE_KEY = 11000
_QUERY_ERROR_CODES = frozenset({2, 9, 51091})  # BadValue, FailedToParse, bad regex
_INDEX_IN_MESSAGE = re.compile(r"index: (\S+) dup key")
UNIQUE_INDEX_PREFIX = "unique_"


def duplicate_of(details: Mapping[str, Any] | None, id_field: str) -> tuple[str, Any]:
    """The field and value a duplicate-key error is about (``keyPattern`` / ``keyValue``;
    servers that omit them name the index in the message instead)."""
    details = details or {}
    pattern = details.get("keyPattern")
    values = details.get("keyValue")
    if isinstance(pattern, Mapping) and pattern:
        field = next(iter(pattern))
        value = values.get(field) if isinstance(values, Mapping) else None
    else:
        found = _INDEX_IN_MESSAGE.search(str(details.get("errmsg", "")))
        index = found.group(1) if found else "_id_"
        field = index.removeprefix(UNIQUE_INDEX_PREFIX) if index != "_id_" else "_id"
        value = None
    return (id_field if field == "_id" else field), from_bson(value)


def first_write_error(exc: BulkWriteError) -> Mapping[str, Any]:
    errors = exc.details.get("writeErrors") or [{}]
    first: Mapping[str, Any] = errors[0]
    return first


def translate(exc: Exception, entity: str, id_field: str = "id") -> Exception:
    """The kit error for a driver exception (or the exception itself when it is one already)."""
    if isinstance(exc, KitError):
        return exc
    if isinstance(exc, DuplicateKeyError):
        field, value = duplicate_of(exc.details, id_field)
        return AlreadyExists(entity, field, value)
    if isinstance(exc, BulkWriteError):
        first = first_write_error(exc)
        if first.get("code") == DUPLICATE_KEY:
            field, value = duplicate_of(first, id_field)
            return AlreadyExists(entity, field, value)
        return BackendUnavailable(BACKEND, f"batch write failed: {first.get('errmsg', exc)}")
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError):
        return BackendUnavailable(BACKEND, _short(exc))
    if isinstance(exc, OperationFailure):
        if exc.code == DUPLICATE_KEY:
            field, value = duplicate_of(exc.details, id_field)
            return AlreadyExists(entity, field, value)
        if exc.code in _QUERY_ERROR_CODES:
            return InvalidQuery(f"MongoDB rejected the query: {_short(exc)}")
        return BackendUnavailable(BACKEND, f"operation failed ({_short(exc)})")
    if isinstance(exc, BSONError | OverflowError):
        return InvalidInput(f"{entity}: value cannot be stored in MongoDB ({exc})")
    if isinstance(exc, PyMongoError):
        return BackendUnavailable(BACKEND, _short(exc))
    return exc


def _short(exc: BaseException) -> str:
    text = str(exc).split(", full error:")[0]
    return text if len(text) <= 300 else text[:297] + "..."


@contextmanager
def driver_errors(entity: str, id_field: str = "id") -> Iterator[None]:
    """Run a block of driver calls; anything the driver raises leaves as a kit error."""
    try:
        yield
    except (PyMongoError, BSONError, OverflowError) as exc:
        raise translate(exc, entity, id_field) from exc
