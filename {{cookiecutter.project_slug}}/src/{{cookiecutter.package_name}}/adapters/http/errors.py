"""One place that turns kit and domain errors into HTTP answers.

Every error body has the same shape: ``{"error": <code>, "message": <text>}`` (plus ``detail``
for request validation). A caller's mistake is always a 4xx; a backend outage is a 503 with
``Retry-After``; nothing a driver says leaks to the caller.

The same shape is declared in OpenAPI (:class:`ErrorBody`): routes list the 4xx they can answer
with ``responses=error_responses(404, 409, ...)``, and :data:`APP_ERROR_RESPONSES` (413, 422,
503: answered by the middleware and the framework on any route) is given to the app itself.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from ...domain.errors import DomainConflict, DomainError
from ...ports.errors import (
    AlreadyExists,
    AuthenticationFailed,
    BackendUnavailable,
    BatchWriteError,
    ConcurrencyConflict,
    ConditionFailed,
    InvalidInput,
    InvalidQuery,
    KitError,
    NotFound,
    PermissionDenied,
    ReferenceNotFound,
    StillReferenced,
    TooManyAttempts,
    TransactionTooLarge,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

STATUS_BY_ERROR: tuple[tuple[type[KitError], int], ...] = (
    (NotFound, 404),
    (AlreadyExists, 409),
    (StillReferenced, 409),
    (ReferenceNotFound, 422),
    (TransactionTooLarge, 422),
    (ConcurrencyConflict, 409),
    (ConditionFailed, 412),
    (InvalidQuery, 400),
    (InvalidInput, 422),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (TooManyAttempts, 429),
    (BackendUnavailable, 503),
    # Part of a non-atomic batch was written and the rest refused after retries (throttling):
    # retryable, and the body's ``failed_keys`` says exactly which items to send again.
    (BatchWriteError, 503),
)


class ErrorBody(BaseModel):
    """The body of every error answer."""

    model_config = ConfigDict(extra="allow")

    error: str  # stable machine code: not_found, already_exists, backend_unavailable...
    message: str  # safe to show to the caller
    field: str | None = None  # already_exists: the unique field that clashed
    failed_keys: list[Any] | None = None  # batch_incomplete: the items not written
    detail: list[dict[str, Any]] | None = None  # validation_error: one entry per problem


_ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request: an unparsable body, or a filter, sort, cursor or limit the "
    "collection cannot answer (`invalid_query`, `invalid_cursor`).",
    401: "Missing, invalid or expired credentials (`unauthenticated`).",
    403: "Authenticated, but not allowed (`forbidden`).",
    404: "No such resource (`not_found`).",
    409: "Conflict with the stored state: a unique value taken (`already_exists`), a stale "
    "`version` (`version_conflict`), a record still referenced by others (`still_referenced`), or "
    "a rule about other records (`domain_conflict`).",
    412: "A conditional write's condition did not hold (`condition_failed`).",
    413: "The request body is larger than the service accepts (`payload_too_large`).",
    422: "The request is well-formed but invalid (`validation_error`, `invalid_input`, "
    "`domain_rule`, `reference_not_found`: a reference to a record that does not exist).",
    429: "Too many attempts from this client or on this account (`too_many_attempts`); retry "
    "after `Retry-After` seconds. The same answer whether or not the account exists.",
    503: "A backend is unreachable or did not answer in time (`backend_unavailable`); retry "
    "after `Retry-After` seconds.",
}
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: {
        "Retry-After": {
            "description": "Seconds until the attempt may be made again.",
            "schema": {"type": "integer"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer"},
        }
    },
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the error statuses a route can answer."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _ERROR_DESCRIPTIONS[status]}
        if status in _ERROR_HEADERS:
            entry["headers"] = _ERROR_HEADERS[status]
        responses[status] = entry
    return responses


# Answered on any route: an oversized body (middleware), a request that does not validate
# (FastAPI), a backend outage or timeout. Passed to ``FastAPI(responses=...)``.
APP_ERROR_RESPONSES = error_responses(413, 422, 503)


def status_for(error: KitError) -> int:
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status
    return 500


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **extra}


async def _kit_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KitError)
    status = status_for(exc)
    headers: dict[str, str] = {}
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        logger.warning("%s on %s %s: %s", exc.code, request.method, request.url.path, exc)
    elif status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    extra: dict[str, Any] = {}
    if isinstance(exc, AlreadyExists):
        extra["field"] = exc.field
    if isinstance(exc, BatchWriteError):
        extra["failed_keys"] = jsonable_encoder(exc.failed_keys)
    return JSONResponse(error_body(exc.code, exc.message, **extra), status, headers=headers)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse(
        error_body(exc.code, str(exc)), 409 if isinstance(exc, DomainConflict) else 422
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors(), exclude={"input", "ctx", "url"})
    first = errors[0] if errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
    return JSONResponse(error_body("validation_error", message, detail=errors), 422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {
        400: "bad_request",
        401: "unauthenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }
    return JSONResponse(
        error_body(code.get(exc.status_code, "http_error"), str(exc.detail)),
        exc.status_code,
        headers=exc.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KitError, _kit_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
