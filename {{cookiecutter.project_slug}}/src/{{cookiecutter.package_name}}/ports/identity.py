"""Identity ports: who the caller is, and the account flows behind it.

Two contracts, both pure Python so the application can depend on them:

- ``IdentityProvider`` runs the account flows (register, confirm, login, refresh, logout,
  password reset and change, roles, user listing). Adapters: memory (argon2id + HS256, for
  tests and sandboxes) and AWS Cognito (``cognito-idp``).
- ``TokenVerifier`` turns a bearer token into a ``Principal`` or raises ``AuthenticationFailed``
  with a message that says what was wrong (expired, wrong audience, ...). Adapters: HS256 (the
  memory provider's tokens) and RS256 against a Cognito pool's JWKS.

Errors (from :mod:`.errors`) every adapter raises the same way:

- ``AuthenticationFailed`` (401): wrong credentials, unknown user at login (same message as a
  wrong password, so accounts cannot be enumerated), unconfirmed user, bad/revoked token.
- ``AlreadyExists`` (409): the username is taken.
- ``InvalidInput`` (422): the password breaks the policy, a code is wrong or expired.
- ``NotFound`` (404): admin operations on an unknown user.
- ``BackendUnavailable`` (503): the identity service cannot be reached.

Roles are plain strings (Cognito groups). Which roles exist and what they allow belongs to the
host application: the kit ships only the mechanism.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from .lifecycle import HealthChecked, Lifecycle


def unique_roles(*groups: Iterable[str] | str | None) -> tuple[str, ...]:
    """Roles from any number of sources, stripped, blanks dropped, duplicates removed.

    Order is first-seen, so the result is deterministic. A bare string counts as one role (not
    as its characters): ``unique_roles("admin", ["admin", " editor "])`` is
    ``("admin", "editor")``.
    """
    seen: dict[str, None] = {}
    for group in groups:
        if group is None:
            continue
        items: Iterable[str] = (group,) if isinstance(group, str) else group
        for role in items:
            name = str(role).strip()
            if name:
                seen.setdefault(name, None)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, as proved by a verified token."""

    subject: str
    username: str
    email: str | None = None
    roles: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict)

    def has_role(self, role: str) -> bool:
        """Whether the principal holds role."""
        return role in self.roles

    def has_any_role(self, roles: Iterable[str]) -> bool:
        """Whether the principal holds at least one of roles."""
        return not self.roles.isdisjoint(roles)


@dataclass(frozen=True, slots=True)
class AuthTokens:
    """Tokens from a login or a refresh.

    ``refresh_token`` is ``None`` after a refresh when the backend does not rotate refresh
    tokens (Cognito without rotation): the caller keeps using the one it has.
    """

    access_token: str
    id_token: str | None
    refresh_token: str | None
    expires_in: int
    token_type: str = "Bearer"


LoginResult = AuthTokens


@dataclass(frozen=True, slots=True)
class CodeDelivery:
    """Where a confirmation or reset code was sent (masked); never the code itself."""

    medium: str
    destination: str
    attribute: str | None = None


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    """The new account: confirmed is False until the code sent through delivery is confirmed."""

    username: str
    user_sub: str
    confirmed: bool
    delivery: CodeDelivery | None = None


@dataclass(frozen=True, slots=True)
class PasswordResetResult:
    """Answer to a forgot-password request. Looks the same whether or not the user exists,
    apart from ``delivery`` which callers must not show to anonymous users."""

    delivery: CodeDelivery | None = None


class UserStatus:
    """Account states (Cognito's vocabulary)."""

    UNCONFIRMED = "UNCONFIRMED"
    CONFIRMED = "CONFIRMED"
    RESET_REQUIRED = "RESET_REQUIRED"
    FORCE_CHANGE_PASSWORD = "FORCE_CHANGE_PASSWORD"


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An account as an administrator sees it.

    ``roles`` is ``None`` in ``list_users`` results: loading every user's groups would be one
    call per user on Cognito. ``get_user`` always fills it.
    """

    username: str
    subject: str
    email: str | None
    status: str
    enabled: bool = True
    roles: tuple[str, ...] | None = None
    created_at: datetime | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UserPage:
    """One page of users; next_cursor fetches the next one."""

    items: tuple[UserInfo, ...]
    next_cursor: str | None = None


MAX_USER_PAGE = 60  # Cognito's ListUsers limit; every adapter honours the same bound


@runtime_checkable
class IdentityProvider(HealthChecked, Protocol):
    """The account flows. Every method raises the errors listed in this module's docstring;
    the contract suite (``tests/contract/test_identity_contract.py``) runs on every adapter."""

    async def register(
        self,
        username: str,
        password: str,
        email: str,
        attributes: Mapping[str, str] | None = None,
    ) -> RegistrationResult:
        """Create an unconfirmed account and send a confirmation code. ``AlreadyExists`` when the
        username is taken, ``InvalidInput`` when the password breaks the policy."""
        ...

    async def confirm_registration(self, username: str, code: str) -> None:
        """Confirm with the code that was sent; ``InvalidInput`` when it is wrong or expired."""
        ...

    async def login(self, username: str, password: str) -> AuthTokens:
        """Access, id and refresh tokens, or ``AuthenticationFailed`` with one message for an
        unknown user and a wrong password."""
        ...

    async def refresh(self, refresh_token: str, username: str | None = None) -> AuthTokens:
        """New access and id tokens. ``username`` is needed by Cognito app clients that have a
        secret (SECRET_HASH). A rotating backend returns a new refresh token and revokes the old
        one: presenting it again is ``AuthenticationFailed``."""
        ...

    async def logout(self, access_token: str) -> None:
        """Sign the user out everywhere: every refresh token of the user stops working.
        Access tokens already issued stay valid until they expire (keep their TTL short)."""
        ...

    async def revoke(self, refresh_token: str, username: str | None = None) -> None:
        """Revoke one refresh token (one session)."""
        ...

    async def forgot_password(self, username: str) -> PasswordResetResult:
        """Send a reset code to the user. Succeeds for unknown users too (no enumeration)."""
        ...

    async def confirm_forgot_password(self, username: str, code: str, new_password: str) -> None:
        """Set a new password with a reset code; ``InvalidInput`` for a wrong/expired code or a
        weak password."""
        ...

    async def change_password(
        self, access_token: str, old_password: str, new_password: str
    ) -> None:
        """``AuthenticationFailed`` when the old password or the token is wrong."""
        ...

    async def get_user(self, username: str) -> UserInfo:
        """The account with its roles, or ``NotFound``."""
        ...

    async def ensure_user(
        self, username: str, email: str, password: str, roles: Sequence[str] = ()
    ) -> UserInfo:
        """Seeding: create the account already confirmed if it is missing, then grant ``roles``.
        Idempotent. ``password`` is used only on creation: an existing account's password is
        never reset behind its owner's back."""
        ...

    async def assign_role(self, username: str, role: str) -> None:
        """Idempotent. ``NotFound`` for an unknown user."""
        ...

    async def remove_role(self, username: str, role: str) -> None:
        """Idempotent. ``NotFound`` for an unknown user."""
        ...

    async def list_users(
        self, limit: int = 50, cursor: str | None = None, role: str | None = None
    ) -> UserPage:
        """A page of users (at most ``MAX_USER_PAGE``), optionally only those holding ``role``.
        ``cursor`` is the ``next_cursor`` of the previous page; a forged one is
        ``InvalidCursor``."""
        ...


@runtime_checkable
class TokenVerifier(Lifecycle, Protocol):
    """Bearer token to ``Principal``; the JWKS or key it checks against is opened by ``start``."""

    async def verify(self, token: str) -> Principal:
        """The principal the token proves, or ``AuthenticationFailed`` saying why not."""
        ...
