"""What the repository identity provider stores, as entities of the kit's registry.

Each record is a dataclass whose constructor refuses what must never be stored (a blank
username, a password that is not an argon2 hash, an unknown status), so the kit's "every write
goes through the domain" holds for accounts too. ``register_identity_entities`` declares them;
``features/identity.py`` calls it, so the tables, collections and DynamoDB tables are created
with the service's own and Alembic's metadata includes them.

- ``IdentityAccount``: one per user; id is the subject (``sub``), ``username`` is unique.
  ``token_version`` is the revocation stamp: tokens carry it (claim ``tv``) and stop verifying
  once it moves on (logout, password change or reset, role change, disable).
- ``IdentitySession``: one per login; its refresh token is ``<session id>.<secret>`` and only
  the secret's SHA-256 is stored (``current``, and ``previous`` for the refresh grace window).
- ``IdentityCode``: one pending confirmation or reset code per account and purpose, by digest.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from ....domain.errors import DomainError
from ...persistence.specs import EntityRegistry, EntitySpec

ROLE_PATTERN = re.compile(r"^[A-Za-z0-9_.:@+=,-]{1,128}$")
USERNAME_PATTERN = re.compile(r"^[^\s]{1,128}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
STATUSES = frozenset({"UNCONFIRMED", "CONFIRMED", "RESET_REQUIRED", "FORCE_CHANGE_PASSWORD"})
CODE_PURPOSES = frozenset({"confirm_registration", "reset_password"})


def _digest(value: str, what: str, *, optional: bool = False) -> str:
    if optional and value == "":
        return value
    if not _DIGEST.match(value):
        raise DomainError(f"{what} must be a SHA-256 hex digest")
    return value


@dataclass
class IdentityAccount:
    id: str  # the subject
    username: str
    email: str
    password_hash: str
    status: str
    created_at: dt.datetime
    enabled: bool = True
    roles: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    token_version: int = 1
    version: int = 0

    def __post_init__(self) -> None:
        if not self.id:
            raise DomainError("an account needs a subject")
        if not USERNAME_PATTERN.match(self.username):
            raise DomainError("Username must be 1 to 128 characters without spaces")
        if not self.password_hash.startswith("$argon2"):
            raise DomainError("password_hash must be an argon2 hash")
        if self.status not in STATUSES:
            raise DomainError(f"unknown account status {self.status!r}")
        for role in self.roles:
            if not ROLE_PATTERN.match(role):
                raise DomainError(f"Invalid role name {role!r}")
        self.roles = sorted(set(self.roles))
        if self.token_version < 1:
            raise DomainError("token_version starts at 1")


@dataclass
class IdentitySession:
    id: str
    subject: str
    username: str
    current: str  # SHA-256 of the refresh token's secret
    expires_at: float
    previous: str = ""  # the secret rotated out last, honoured for the grace window
    rotated_at: float = 0.0
    generation: int = 0  # rotations so far: how far back a replayed secret can be traced
    revoked: bool = False
    version: int = 0

    def __post_init__(self) -> None:
        if not self.id or not self.subject:
            raise DomainError("a session needs an id and a subject")
        self.current = _digest(self.current, "current")
        self.previous = _digest(self.previous, "previous", optional=True)


@dataclass
class IdentityCode:
    id: str  # "<purpose>:<subject>"
    digest: str
    expires_at: float
    attempts_left: int
    version: int = 0

    def __post_init__(self) -> None:
        purpose, _, subject = self.id.partition(":")
        if purpose not in CODE_PURPOSES or not subject:
            raise DomainError("a code's id is '<purpose>:<subject>'")
        self.digest = _digest(self.digest, "digest")
        if self.attempts_left < 0:
            raise DomainError("attempts_left cannot be negative")


def code_id(purpose: str, subject: str) -> str:
    return f"{purpose}:{subject}"


def identity_specs(suffix: str = "") -> tuple[EntitySpec[Any], ...]:
    """The three specs; ``suffix`` gives tests tables of their own."""
    return (
        EntitySpec(
            "identity_account",
            IdentityAccount,
            f"identity_accounts{suffix}",
            unique=("username",),
        ),
        # Expired sessions and codes vanish from every read and are reclaimed by the backend
        # (MongoDB and DynamoDB TTL; ``purge_expired()`` on PostgreSQL and memory).
        EntitySpec(
            "identity_session",
            IdentitySession,
            f"identity_sessions{suffix}",
            indexes=("subject",),
            ttl_field="expires_at",
        ),
        EntitySpec(
            "identity_code", IdentityCode, f"identity_codes{suffix}", ttl_field="expires_at"
        ),
    )


def register_identity_entities(registry: EntityRegistry, suffix: str = "") -> None:
    for spec in identity_specs(suffix):
        registry.register(spec)
