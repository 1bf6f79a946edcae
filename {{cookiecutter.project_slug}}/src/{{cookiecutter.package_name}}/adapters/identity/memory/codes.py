"""One-time codes of the memory provider (registration confirmation, password reset).

Codes are six digits from ``secrets``; they expire, allow a few attempts and are stored as
SHA-256 digests. A code is never returned by a method: it goes to the injectable ``CodeSink``,
the stand-in for the e-mail a real provider would send (tests read codes there; the default sink
logs them for a developer's sandbox). Generated seed passwords travel the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from ....ports.errors import InvalidInput

logger = logging.getLogger(__name__)

CODE_FAILED = "Invalid or expired code; request a new one"


class CodePurpose:
    CONFIRM_REGISTRATION = "confirm_registration"
    RESET_PASSWORD = "reset_password"
    SEED_PASSWORD = "seed_password"


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A secret the provider would e-mail in real life: a code, or a seeded user's password."""

    purpose: str
    username: str
    email: str | None
    code: str = field(repr=False)


CodeSink = Callable[[IssuedCode], None]


def logging_code_sink(issued: IssuedCode) -> None:
    """Default sink for a developer's sandbox: the code goes to the log (never to a response)."""
    logger.warning(
        "memory identity provider (sandbox only): %s for %r: %s",
        issued.purpose,
        issued.username,
        issued.code,
    )


def discard_code_sink(issued: IssuedCode) -> None:
    """Deliver nowhere (a deployment that must not log secrets)."""
    logger.info("memory identity provider: %s issued for %r", issued.purpose, issued.username)


def digest(secret: str) -> bytes:
    """What the provider stores instead of a code or a refresh token: a leak reveals neither."""
    return hashlib.sha256(secret.encode()).digest()


def mask_email(email: str | None) -> str:
    if not email or "@" not in email:
        return "***"
    local, domain = email.split("@", 1)
    return f"{local[:1]}***@{domain}"


@dataclass(slots=True)
class PendingCode:
    digest: bytes
    expires_at: float
    attempts_left: int


class OneTimeCodes:
    """The pending codes of one purpose, at most one per user (a new code replaces the old).

    Not locked itself: the provider calls it under its own lock.
    """

    def __init__(self, ttl_seconds: int, max_attempts: int, clock: Callable[[], float]) -> None:
        self._ttl = ttl_seconds
        self._max_attempts = max_attempts
        self._clock = clock
        self._pending: dict[str, PendingCode] = {}

    def issue(self, username: str) -> str:
        """A fresh code for ``username``; the caller hands it to the sink, never to a response."""
        code = f"{secrets.randbelow(10**6):06d}"
        self._pending[username] = PendingCode(
            digest(code), self._clock() + self._ttl, self._max_attempts
        )
        return code

    def consume(self, username: str, code: str) -> None:
        """Accept the code once, or count a failed attempt (the last one discards the code)."""
        pending = self._pending.get(username)
        if pending is None or pending.expires_at <= self._clock():
            self._pending.pop(username, None)
            raise InvalidInput(CODE_FAILED)
        if not hmac.compare_digest(pending.digest, digest(code)):
            pending.attempts_left -= 1
            if pending.attempts_left <= 0:
                del self._pending[username]
            raise InvalidInput(CODE_FAILED)
        del self._pending[username]
