"""Cognito's errors as kit errors, so callers never see botocore.

``translate_errors`` wraps each call; its keyword overrides map an error code to the kit error
that call means by it (``UserNotFoundException`` is a 404 for an admin read, but the same 401 as
a wrong password at login). Codes that mean "try later" become ``BackendUnavailable``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from ....ports.errors import AuthenticationFailed, BackendUnavailable, InvalidInput, KitError

logger = logging.getLogger(__name__)

BACKEND = "Cognito"
LOGIN_FAILED = "Incorrect username or password"
REFRESH_FAILED = "Refresh token is invalid, expired or revoked"
CODE_FAILED = "Invalid or expired code; request a new one"

# Error codes that mean "try later" rather than "you are wrong".
_UNAVAILABLE = frozenset(
    {
        "TooManyRequestsException",
        "LimitExceededException",
        "InternalErrorException",
        "InternalError",
        "ServiceUnavailable",
        "ThrottlingException",
    }
)


class Quiet(KitError):
    """Internal: an expected Cognito answer the adapter handles itself (never escapes)."""


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or _error_code(exc)


def translate_client_error(exc: ClientError, overrides: Mapping[str, KitError]) -> KitError:
    code = _error_code(exc)
    if code in overrides:
        return overrides[code]
    if code == "NotAuthorizedException":
        return AuthenticationFailed(_error_message(exc))
    if code == "UserNotConfirmedException":
        return AuthenticationFailed("User is not confirmed")
    if code == "PasswordResetRequiredException":
        return AuthenticationFailed("Password reset required")
    if code == "InvalidPasswordException":
        return InvalidInput(f"Password does not meet the policy: {_error_message(exc)}")
    if code in ("CodeMismatchException", "ExpiredCodeException", "TooManyFailedAttemptsException"):
        return InvalidInput(CODE_FAILED)
    if code == "InvalidParameterException":
        return InvalidInput(_error_message(exc))
    if code == "ResourceNotFoundException":
        return BackendUnavailable(BACKEND, "user pool or app client not found (check settings)")
    if code in _UNAVAILABLE:
        return BackendUnavailable(BACKEND, code)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
    if status >= 500:
        return BackendUnavailable(BACKEND, code)
    return BackendUnavailable(BACKEND, f"unexpected error {code}")


@contextmanager
def translate_errors(**overrides: KitError) -> Iterator[None]:
    """Raise the kit error for any botocore error inside the block (chained to the original)."""
    try:
        yield
    except ClientError as exc:
        raise translate_client_error(exc, overrides) from exc
    except BotoCoreError as exc:
        logger.warning("Cognito unreachable: %r", exc)
        raise BackendUnavailable(BACKEND, "the identity service did not answer") from exc
