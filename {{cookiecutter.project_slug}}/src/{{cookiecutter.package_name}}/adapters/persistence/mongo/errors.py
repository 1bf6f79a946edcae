"""PyMongo exceptions translated into the kit's errors, in one place.

Kit error messages reach HTTP bodies, so they say what happened in plain words and never carry
the driver's text or an exception's class name; those are logged (warning) for whoever runs
the service.
"""

from __future__ import annotations

import logging
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
from ..common import unique_label
from .codec import from_bson

log = logging.getLogger(__name__)

BACKEND = "mongo"
DUPLICATE_KEY = 11000
TRANSIENT = "TransientTransactionError"
_QUERY_ERROR_CODES = frozenset({2, 9, 51091})  # BadValue, FailedToParse, bad regex
_INDEX_IN_MESSAGE = re.compile(r"index: (\S+) dup key")
UNIQUE_INDEX_PREFIX = "unique_"


class TransientConflict(BackendUnavailable):
    """A transaction met a concurrent write (MongoDB's ``TransientTransactionError``): the
    adapter retries its own transactions from the start; a unit of work cannot be replayed,
    so it surfaces as this (HTTP 503, retryable)."""

    def __init__(self) -> None:
        super().__init__(BACKEND, "a concurrent write got in the way; try again")


def unique_index_name(fields: tuple[str, ...]) -> str:
    """``unique_sku``, ``unique_member_id+task_id``: the name of a unique constraint's index."""
    return f"{UNIQUE_INDEX_PREFIX}{unique_label(fields)}"


def index_fields(name: str) -> tuple[str, ...]:
    """The fields of a unique index, from its name (the inverse of :func:`unique_index_name`;
    ``_id_`` is the id)."""
    if not name.startswith(UNIQUE_INDEX_PREFIX):
        return ("_id",)
    return tuple(name.removeprefix(UNIQUE_INDEX_PREFIX).split("+"))


def duplicate_of(details: Mapping[str, Any] | None, id_field: str) -> tuple[str, Any]:
    """The constraint (``AlreadyExists.field``: ``sku`` or ``a+b``) and value (a tuple for a
    compound constraint) a duplicate-key error is about, from ``keyPattern``/``keyValue``, or
    from the index named in the message when the server omits them."""
    details = details or {}
    pattern = details.get("keyPattern")
    values = details.get("keyValue")
    if isinstance(pattern, Mapping) and pattern:
        fields = tuple(str(f) for f in pattern)
        found = [from_bson(values.get(f)) if isinstance(values, Mapping) else None for f in fields]
    else:
        match = _INDEX_IN_MESSAGE.search(str(details.get("errmsg", "")))
        fields = index_fields(match.group(1) if match else "_id_")
        found = [None] * len(fields)
    if fields == ("_id",):
        return id_field, found[0]
    return unique_label(fields), found[0] if len(fields) == 1 else tuple(found)


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
        _log(exc, entity, str(first.get("errmsg", "")))
        return BackendUnavailable(BACKEND, "a batch write failed")
    if isinstance(exc, OperationFailure) and exc.code == DUPLICATE_KEY:
        field, value = duplicate_of(exc.details, id_field)
        return AlreadyExists(entity, field, value)
    _log(exc, entity)
    if isinstance(exc, PyMongoError) and exc.has_error_label(TRANSIENT):
        return TransientConflict()
    if isinstance(exc, ExecutionTimeout | WTimeoutError):
        return BackendUnavailable(BACKEND, "the operation timed out")
    if isinstance(exc, ConnectionFailure):
        return BackendUnavailable(BACKEND, "cannot reach the database")
    if isinstance(exc, OperationFailure):
        if exc.code in _QUERY_ERROR_CODES:
            return InvalidQuery(f"{entity}: the database cannot run this query")
        return BackendUnavailable(BACKEND, "the database refused the operation")
    if isinstance(exc, BSONError | OverflowError):
        return InvalidInput(f"{entity}: a value cannot be stored in the database")
    if isinstance(exc, PyMongoError):
        return BackendUnavailable(BACKEND, "the database failed to answer")
    return exc


def _log(exc: BaseException, entity: str, detail: str = "") -> None:
    code = getattr(exc, "code", None)
    text = (detail or str(exc)).split(", full error:")[0]
    log.warning(
        "mongo error for %s (%s, code %s): %s",
        entity,
        type(exc).__name__,
        code if code is not None else "-",
        text[:300],
    )


@contextmanager
def driver_errors(entity: str, id_field: str = "id") -> Iterator[None]:
    """Run a block of driver calls; anything the driver raises leaves as a kit error."""
    try:
        yield
    except (PyMongoError, BSONError, OverflowError) as exc:
        raise translate(exc, entity, id_field) from exc
