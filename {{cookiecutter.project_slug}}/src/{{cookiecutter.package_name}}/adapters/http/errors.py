"""One place that turns kit and domain errors into HTTP answers.

Every error body has the same shape: ``{"error": <code>, "message": <text>}`` (plus ``detail``
for request validation). A caller's mistake is always a 4xx; a backend outage is a 503 with
``Retry-After``; nothing a driver says leaks to the caller.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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
)

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

STATUS_BY_ERROR: tuple[tuple[type[KitError], int], ...] = (
    (NotFound, 404),
    (AlreadyExists, 409),
    (ConcurrencyConflict, 409),
    (ConditionFailed, 412),
    (InvalidQuery, 400),
    (InvalidInput, 422),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (BackendUnavailable, 503),
    (BatchWriteError, 500),
)


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
        logger.warning("backend unavailable on %s %s: %s", request.method, request.url.path, exc)
    elif status == 401:
        headers["WWW-Authenticate"] = "Bearer"
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
    code = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
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
