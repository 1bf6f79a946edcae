"""Errors raised by business rules. They know nothing of HTTP or storage."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule was broken by the request (answered as HTTP 422)."""

    code = "domain_rule"
