"""The kit's error vocabulary.

Adapters translate every driver error into one of these, so the application and the HTTP layer
never see a driver exception. Each error carries a stable machine ``code`` (the JSON ``error``
field of an HTTP answer) and a message that is safe to show to the caller.
"""

from __future__ import annotations

from typing import Any


class KitError(Exception):
    """Base of every error the kit raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(KitError):
    """No entity (or object, user, route) under this key: HTTP 404."""

    code = "not_found"

    def __init__(self, entity: str, key: Any) -> None:
        super().__init__(f"{entity} {key!r} was not found")
        self.entity = entity
        self.key = key


class AlreadyExists(KitError):
    """A unique field (or the id) already holds this value."""

    code = "already_exists"

    def __init__(self, entity: str, field: str, value: Any) -> None:
        super().__init__(f"{entity} with {field}={value!r} already exists")
        self.entity = entity
        self.field = field
        self.value = value


UniqueViolation = AlreadyExists


class ReferenceNotFound(KitError):
    """An enforced reference (a relation with ``on_delete``) points at nothing (HTTP 422)."""

    code = "reference_not_found"

    def __init__(self, entity: str, field: str, value: Any, target: str) -> None:
        super().__init__(f"{entity}.{field}: {target} {value!r} does not exist")
        self.entity = entity
        self.field = field
        self.value = value
        self.target = target


class StillReferenced(KitError):
    """Deleting an entity that others still point at under ``on_delete="restrict"`` (HTTP 409)."""

    code = "still_referenced"

    def __init__(self, entity: str, key: Any, referenced_by: str) -> None:
        super().__init__(f"{entity} {key!r} is still referenced by {referenced_by}")
        self.entity = entity
        self.key = key
        self.referenced_by = referenced_by


class ConcurrencyConflict(KitError):
    """The stored version is not the one the caller read: someone else wrote first."""

    code = "version_conflict"

    def __init__(self, entity: str, key: Any, expected_version: int | None) -> None:
        super().__init__(
            f"{entity} {key!r} was modified concurrently (expected version {expected_version})"
        )
        self.entity = entity
        self.key = key
        self.expected_version = expected_version


class ConditionFailed(KitError):
    """A conditional write was rejected because its condition did not hold."""

    code = "condition_failed"


class InvalidQuery(KitError):
    """A filter, sort, field name, operator, limit or value the entity cannot answer."""

    code = "invalid_query"


class InvalidCursor(InvalidQuery):
    """A page cursor that is malformed, altered, expired with its secret, or issued for another
    collection, sort or filter: HTTP 400."""

    code = "invalid_cursor"


class BackendUnavailable(KitError):
    """The database, object store or identity service cannot be reached right now."""

    code = "backend_unavailable"

    def __init__(self, backend: str, detail: str = "unreachable") -> None:
        super().__init__(f"{backend} is unavailable: {detail}")
        self.backend = backend


class BatchWriteError(KitError):
    """A non-atomic batch (DynamoDB BatchWriteItem) left some items unwritten.

    ``failed_keys`` lists exactly which ones, so the caller can retry or compensate.
    """

    code = "batch_incomplete"

    def __init__(self, entity: str, failed_keys: list[Any]) -> None:
        super().__init__(f"{len(failed_keys)} {entity} item(s) were not written: {failed_keys!r}")
        self.entity = entity
        self.failed_keys = failed_keys


class TransactionTooLarge(KitError):
    """A unit of work holds more writes than its backend commits at once (DynamoDB: 100
    items per ``TransactWriteItems``). Raised before anything is sent (HTTP 422)."""

    code = "transaction_too_large"


class TransactionsUnsupported(BackendUnavailable):
    """The backend cannot run a unit of work (a standalone MongoDB server has no
    transactions: run a replica set, even of one member)."""

    def __init__(self, backend: str, detail: str) -> None:
        super().__init__(backend, detail)


class AuthenticationFailed(KitError):
    """Missing, invalid or expired credentials or token (HTTP 401)."""

    code = "unauthenticated"


class PermissionDenied(KitError):
    """Authenticated, but not allowed (HTTP 403)."""

    code = "forbidden"


class TooManyAttempts(KitError):
    """Too many attempts (logins, codes, code requests) for an account or a client address:
    HTTP 429 with ``Retry-After``. The message is fixed and says nothing about which limit was
    hit, nor whether the account exists (``ports/throttle.py``)."""

    code = "too_many_attempts"
    MESSAGE = "Too many attempts. Try again later."

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(self.MESSAGE)
        self.retry_after_seconds = max(1, int(retry_after_seconds))


class InvalidInput(KitError):
    """A value the port cannot accept (bad storage key, weak password, ...) (HTTP 422)."""

    code = "invalid_input"
