"""Driver errors to kit errors, and the retry/backoff policy shared by the DynamoDB adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterator, Mapping
from typing import Any, cast

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from ....ports.errors import BackendUnavailable, InvalidInput, InvalidQuery, KitError

logger = logging.getLogger(__name__)

BACKEND = "dynamodb"
UNAVAILABLE = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
        "UnrecognizedClientException",
        "AccessDeniedException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
        "TransactionInProgressException",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _response(exc: ClientError) -> Mapping[str, Any]:
    return cast("Mapping[str, Any]", exc.response)


def cancellation_codes(exc: ClientError) -> list[str]:
    """The per-action reasons of a cancelled TransactWriteItems ("None" for the fine ones)."""
    reasons = _response(exc).get("CancellationReasons") or []
    return [str(r.get("Code") or "None") for r in reasons]


def failed_item(exc: ClientError) -> dict[str, Any] | None:
    """The item a ConditionalCheckFailed returned (ReturnValuesOnConditionCheckFailure)."""
    item = _response(exc).get("Item")
    return dict(item) if isinstance(item, Mapping) else None


def translate(exc: Exception, what: str, *, reading: bool = True) -> KitError:
    """A kit error for a driver error nobody handled more specifically."""
    if isinstance(exc, KitError):
        return exc
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))
        logger.warning("DynamoDB %s failed: %s %s", what, code, message)
        if code == "ResourceNotFoundException":
            return BackendUnavailable(BACKEND, f"a table of {what} does not exist (provision it)")
        if code in UNAVAILABLE:
            return BackendUnavailable(BACKEND, code)
        if code == "ValidationException":
            if reading:
                return InvalidQuery(f"DynamoDB refused the query on {what}: {message}")
            return InvalidInput(f"DynamoDB refused the write to {what}: {message}")
        return BackendUnavailable(BACKEND, code or "error")
    logger.warning("DynamoDB %s failed: %r", what, exc)
    return BackendUnavailable(BACKEND, type(exc).__name__)


DRIVER_ERRORS = (ClientError, BotoCoreError, aiohttp.ClientError, OSError, asyncio.TimeoutError)


@contextlib.contextmanager
def driver_errors(what: str, *, reading: bool = True) -> Iterator[None]:
    try:
        yield
    except DRIVER_ERRORS as exc:
        raise translate(exc, what, reading=reading) from exc


async def backoff(attempt: int, base: float = 0.02, cap: float = 1.0) -> None:
    """Full-jitter exponential backoff before retry number ``attempt`` (1, 2, ...)."""
    await asyncio.sleep(random.uniform(0, min(cap, base * 2**attempt)))
