"""Driver errors to kit errors, and the retry/backoff policy shared by the DynamoDB adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterator, Mapping
from typing import Any, cast

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

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


_PHRASES = {
    "ProvisionedThroughputExceededException": "throttled; try again",
    "ThrottlingException": "throttled; try again",
    "RequestLimitExceeded": "throttled; try again",
    "LimitExceededException": "throttled; try again",
    "TransactionInProgressException": "busy; try again",
    "InternalServerError": "the service failed; try again",
    "ServiceUnavailable": "the service failed; try again",
}


def _phrase(code: str) -> str:
    """A plain phrase for an AWS error code: kit messages never carry driver text."""
    if code in _PHRASES:
        return _PHRASES[code]
    if code in UNAVAILABLE:
        return "the credentials were refused"
    return "the request failed"


def translate(exc: Exception, what: str, *, reading: bool = True) -> KitError:
    """A kit error for a driver error nobody handled more specifically. The message is a plain
    phrase (it may reach an HTTP body); the driver's code and text are logged."""
    if isinstance(exc, KitError):
        return exc
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))
        logger.warning("DynamoDB %s failed: %s %s", what, code, message)
        if code == "ResourceNotFoundException":
            return BackendUnavailable(BACKEND, f"a table of {what} does not exist (provision it)")
        if code == "ValidationException":
            if reading:
                return InvalidQuery(f"DynamoDB cannot run this query on {what}")
            return InvalidInput(f"DynamoDB cannot store this {what}")
        return BackendUnavailable(BACKEND, _phrase(code))
    logger.warning("DynamoDB %s failed: %r", what, exc)
    if isinstance(exc, asyncio.TimeoutError | ReadTimeoutError | ConnectTimeoutError):
        return BackendUnavailable(BACKEND, "timed out")
    return BackendUnavailable(BACKEND, "cannot connect")


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
