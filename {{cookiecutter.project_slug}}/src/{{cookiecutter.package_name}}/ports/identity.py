"""Identity ports: who the caller is, and the account flows behind it.

Three contracts, all pure Python so the application can depend on them:

- ``IdentityProvider`` runs the account flows (register, confirm, login, refresh, logout,
  password reset and change, roles, disable and delete, user listing). Adapters: the repository
  provider (argon2id + HS256, accounts stored through the kit's repositories on any backend),
  the in-process memory provider (the same flows over a private memory store: tests and demos)
  and AWS Cognito (``cognito-idp``).
- ``TokenVerifier`` turns a bearer token into a ``Principal`` or raises ``AuthenticationFailed``
  with a message that says what was wrong (expired, wrong audience, revoked...). Adapters: HS256
  (the repository and memory providers' tokens) and RS256 against a Cognito pool's JWKS.
- ``TokenRevocations`` tells the HS256 verifier each account's current token version, so
  logout, a password change or reset, a role change, disable and delete end the access tokens
  issued before them (within the verifier's cache time; docs/identity.md).

No flow reveals whether an account exists: register answers the same for a taken username (the
owner is told through the outgoing-message port, ``ports/messages.py``), login gives one message
for an unknown user, a wrong password and an unconfirmed account, forgot-password and confirm
answer the same for unknown users.

Errors (from :mod:`.errors`) every adapter raises the same way:

- ``AuthenticationFailed`` (401): wrong credentials, unknown or unconfirmed user at login (one
  message for all), bad/revoked token.
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
        """Create an unconfirmed account and send a confirmation code; ``InvalidInput`` when the
        password breaks the policy. A taken username gets an answer of the same shape (a subject
        that belongs to no account) and its owner is told instead: no enumeration."""
        ...

    async def confirm_registration(self, username: str, code: str) -> None:
        """Confirm with the code that was sent; ``InvalidInput`` when it is wrong or expired,
        and the same for an unknown or already confirmed account."""
        ...

    async def login(self, username: str, password: str) -> AuthTokens:
        """Access, id and refresh tokens, or ``AuthenticationFailed`` with one message for an
        unknown user, a wrong password, a disabled and an unconfirmed account (which is sent a
        new confirmation code when the password was right)."""
        ...

    async def refresh(self, refresh_token: str, username: str | None = None) -> AuthTokens:
        """New access and id tokens. ``username`` is needed by Cognito app clients that have a
        secret (SECRET_HASH). A rotating backend returns a new refresh token and retires the old
        one: presented again within the grace window (parallel refreshes, two tabs) it gives the
        same new pair; later, it is a replay and ends the session (``AuthenticationFailed``)."""
        ...

    async def logout(self, access_token: str) -> None:
        """Sign the user out everywhere: every refresh token of the user stops working, and so do
        the access tokens already issued (within the verifier's revocation check interval; on
        Cognito they stay valid until they expire: docs/identity.md)."""
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
        """``AuthenticationFailed`` when the old password or the token is wrong. Ends the user's
        other sessions and the access tokens issued so far (this session's refresh token keeps
        working, so the caller refreshes)."""
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

    async def disable_user(self, username: str) -> None:
        """Refuse the account's logins and end its sessions and tokens; idempotent.
        ``NotFound`` for an unknown user."""
        ...

    async def enable_user(self, username: str) -> None:
        """Let a disabled account log in again; idempotent. ``NotFound`` for an unknown user."""
        ...

    async def delete_user(self, username: str) -> None:
        """Remove the account, its sessions and pending codes; its tokens stop working.
        ``NotFound`` for an unknown user."""
        ...

    async def list_users(
        self, limit: int = 50, cursor: str | None = None, role: str | None = None
    ) -> UserPage:
        """A page of users (at most ``MAX_USER_PAGE``), optionally only those holding ``role``.
        ``cursor`` is the ``next_cursor`` of the previous page; a forged one is
        ``InvalidCursor``."""
        ...


@runtime_checkable
class TokenRevocations(Protocol):
    """Each account's current token version: tokens carry the version they were issued under
    (claim ``tv``) and stop verifying once the account's version has moved on."""

    async def token_version(self, subject: str) -> int | None:
        """The version tokens of ``subject`` must carry, or ``None`` when the account no
        longer exists or is disabled (its tokens are all refused)."""
        ...


@runtime_checkable
class TokenVerifier(Lifecycle, Protocol):
    """Bearer token to ``Principal``; the JWKS or key it checks against is opened by ``start``."""

    async def verify(self, token: str) -> Principal:
        """The principal the token proves, or ``AuthenticationFailed`` saying why not."""
        ...
