"""Errors raised by business rules. They know nothing of HTTP or storage."""

from __future__ import annotations


class DomainError(Exception):
    """A request broke a business rule (answered as HTTP 422)."""

    code = "domain_rule"


class DomainConflict(DomainError):
    """The rule depends on other state, e.g. deleting something still referenced (HTTP 409)."""

    code = "domain_conflict"
