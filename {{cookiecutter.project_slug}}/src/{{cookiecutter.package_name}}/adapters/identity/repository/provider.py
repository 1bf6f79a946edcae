"""``RepositoryIdentityProvider``: the identity port's flows over the kit's repositories.

Accounts, sessions and codes are entities (``records.py``) stored on whatever backend the
service uses (memory, PostgreSQL, MongoDB, DynamoDB), so every worker and replica sees the same
accounts. Every change that must not be lost to a concurrent one is a compare-and-set: a read,
then a write conditioned on the version read (``update_fields(expected_version=...)``), retried
from a fresh read when another writer got in between.

- Passwords are argon2id hashes, hashed and verified off the event loop. An unknown username
  costs the same argon2 work as a wrong password (a dummy hash) and gets the same message.
- Access tokens carry the account's ``token_version`` (``tv``); logout, a password change or
  reset, a role change, disable and delete move it on, and the verifier refuses older tokens
  (``TokenRevocations``, checked with a short cache: docs/identity.md).
- Refresh tokens rotate. The one rotated out last is honoured for ``refresh_grace_seconds`` and
  gives the same new pair (parallel refreshes); after that, or for an older one of the session,
  it is a replay and ends the session. A made-up secret for a real session id ends nothing:
  only a token that really was issued in the session counts as a replay.
- Codes (confirmation, reset) are six digits from ``secrets``, stored as digests, expire and
  allow ``max_code_attempts`` tries; they and generated passwords go out through the
  outgoing-message port, never in a response.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Protocol, TypeVar

from argon2 import PasswordHasher

from ....ports.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConcurrencyConflict,
    InvalidInput,
    InvalidQuery,
    NotFound,
)
from ....ports.identity import (
    MAX_USER_PAGE,
    AuthTokens,
    CodeDelivery,
    PasswordResetResult,
    RegistrationResult,
    UserInfo,
    UserPage,
    UserStatus,
    unique_roles,
)
from ....ports.messages import MessagePurpose, MessageSender, OutgoingMessage
from ....ports.query import Query
from ....ports.repository import Repository
from ...messages import LoggingMessageSender
from ...tokens.hs256 import DEFAULT_KEY_ID, Hs256TokenVerifier
from .listing import decode_cursor, encode_cursor
from .passwords import PasswordPolicy, generate_password, hash_password, verify_password
from .records import (
    CODE_PURPOSES,
    ROLE_PATTERN,
    USERNAME_PATTERN,
    IdentityAccount,
    IdentityCode,
    IdentitySession,
    code_id,
)
from .tokens import TokenIssuer, digest, split_refresh_token

logger = logging.getLogger(__name__)

T = TypeVar("T")

LOGIN_FAILED = "Incorrect username or password"
CODE_FAILED = "Invalid or expired code; request a new one"
REFRESH_FAILED = "Refresh token is invalid, expired or revoked"
CONFIRM = MessagePurpose.CONFIRM_REGISTRATION.value
RESET = MessagePurpose.RESET_PASSWORD.value
CAS_ATTEMPTS = 20  # compare-and-set retries before a conflict reaches the caller (409)
MAX_REFRESH_GENERATIONS = 100_000  # how far back a presented secret is traced (a replay check)


class RepositorySource(Protocol):
    """Where the provider's repositories come from (the service's ``RepositoryProvider``)."""

    def of(self, entity: type[T]) -> Repository[T]: ...


def check_username(username: str) -> None:
    if not USERNAME_PATTERN.match(username):
        raise InvalidInput("Username must be 1 to 128 characters without spaces")


def check_role(role: str) -> None:
    if not ROLE_PATTERN.match(role):
        raise InvalidInput(f"Invalid role name {role!r}")


def mask_email(email: str | None) -> str:
    if not email or "@" not in email:
        return "***"
    local, domain = email.split("@", 1)
    return f"{local[:1]}***@{domain}"


def _info(account: IdentityAccount, *, with_roles: bool) -> UserInfo:
    return UserInfo(
        username=account.username,
        subject=account.id,
        email=account.email,
        status=account.status,
        enabled=account.enabled,
        roles=tuple(account.roles) if with_roles else None,
        created_at=account.created_at,
        attributes=dict(account.attributes),
    )


class RepositoryIdentityProvider:
    def __init__(
        self,
        repositories: RepositorySource,
        jwt_secret: str,
        jwt_issuer: str,
        jwt_audience: str | None = None,
        *,
        access_token_ttl_seconds: int = 900,
        refresh_token_ttl_seconds: int = 14 * 24 * 3600,
        refresh_grace_seconds: float = 30,
        leeway_seconds: float = 30,
        key_id: str = DEFAULT_KEY_ID,
        messages: MessageSender | None = None,
        confirmation_code_ttl_seconds: int = 24 * 3600,
        reset_code_ttl_seconds: int = 900,
        max_code_attempts: int = 5,
        auto_confirm: bool = False,
        password_policy: PasswordPolicy | None = None,
        password_hasher: PasswordHasher | None = None,
        seed_role_users: bool = False,
        seed_role_codes: Iterable[str] = ("admin", "operator"),
        seed_user_domain: str = "example.org",
        seed_password: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not jwt_secret:
            raise ValueError("the identity provider needs a non-empty jwt_secret")
        audience = jwt_audience or jwt_issuer
        self._repositories = repositories
        self._messages: MessageSender = messages or LoggingMessageSender()
        self._auto_confirm = auto_confirm
        self._policy = password_policy or PasswordPolicy()
        self._hasher = password_hasher or PasswordHasher()
        self._clock = clock
        self._grace = refresh_grace_seconds
        self._refresh_ttl = refresh_token_ttl_seconds
        self._code_ttl = {CONFIRM: confirmation_code_ttl_seconds, RESET: reset_code_ttl_seconds}
        self._max_code_attempts = max_code_attempts
        self._tokens = TokenIssuer(
            jwt_secret,
            jwt_issuer,
            audience,
            access_ttl_seconds=access_token_ttl_seconds,
            key_id=key_id,
        )
        # Checks the access tokens logout and change-password are given, revocation included
        # (no cache: a revoked token must not change a password).
        self._verifier = Hs256TokenVerifier(
            jwt_secret,
            jwt_issuer,
            audience,
            leeway_seconds=leeway_seconds,
            key_id=key_id,
            revocations=self,
            revocation_check_seconds=0,
        )
        self._seed_roles = unique_roles(tuple(seed_role_codes)) if seed_role_users else ()
        if self._seed_roles and seed_password is not None:
            self._policy.check(seed_password)  # refused now, not at the first start
        self._seed_domain = seed_user_domain
        self._seed_password = seed_password
        # Verified against for unknown users, so a miss costs what a wrong password costs. Made
        # on the first miss, not at start-up: one argon2 hash is most of the start-up time.
        self._dummy_hash: str | None = None

    # --- repositories --------------------------------------------------------------------------

    @cached_property
    def _accounts(self) -> Repository[IdentityAccount]:
        return self._repositories.of(IdentityAccount)

    @cached_property
    def _sessions(self) -> Repository[IdentitySession]:
        return self._repositories.of(IdentitySession)

    @cached_property
    def _codes(self) -> Repository[IdentityCode]:
        return self._repositories.of(IdentityCode)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the entities are registered, then seed the sandbox role users when asked (the
        repositories are started already)."""
        try:
            self._accounts, self._sessions, self._codes  # noqa: B018 (resolved once, here)
        except KeyError:
            raise RuntimeError(
                "the repository identity provider's entities are not registered: keep "
                "features.identity.IDENTITY in registrations.FEATURES (or in create_app's "
                "features)"
            ) from None
        if self._seed_roles:
            await self._seed(self._seed_roles)

    async def close(self) -> None:
        """Nothing to close: the repositories belong to the service."""

    async def ping(self) -> None:
        """One read of the accounts' table: ``BackendUnavailable`` when it cannot be reached."""
        await self._accounts.get("-")

    # --- TokenRevocations ----------------------------------------------------------------------

    async def token_version(self, subject: str) -> int | None:
        account = await self._accounts.get(subject)
        if account is None or not account.enabled:
            return None
        return account.token_version

    # --- IdentityProvider: registration and login ----------------------------------------------

    async def register(
        self,
        username: str,
        password: str,
        email: str,
        attributes: Mapping[str, str] | None = None,
    ) -> RegistrationResult:
        check_username(username)
        self._policy.check(password)
        # Hashed whether or not the name is taken: both answers cost the same argon2 work.
        password_hash = await hash_password(self._hasher, password)
        delivery = None if self._auto_confirm else CodeDelivery("EMAIL", mask_email(email), "email")
        existing = await self._account_named(username)
        if existing is None:
            account = IdentityAccount(
                id=str(uuid.uuid4()),
                username=username,
                email=email,
                password_hash=password_hash,
                status=UserStatus.CONFIRMED if self._auto_confirm else UserStatus.UNCONFIRMED,
                created_at=self._now(),
                attributes=dict(attributes or {}),
            )
            try:
                account = await self._accounts.add(account)
            except AlreadyExists:  # registered a moment ago by a concurrent request
                existing = await self._account_named(username)
            else:
                if not self._auto_confirm:
                    await self._send_code(CONFIRM, account)
                return RegistrationResult(username, account.id, self._auto_confirm, delivery)
        # Taken: the same answer, with a subject that belongs to no account; the owner is told.
        owner_email = existing.email if existing is not None else None
        await self._messages.send(
            OutgoingMessage(MessagePurpose.ACCOUNT_EXISTS, username, owner_email)
        )
        return RegistrationResult(username, str(uuid.uuid4()), self._auto_confirm, delivery)

    async def confirm_registration(self, username: str, code: str) -> None:
        account = await self._account_named(username)
        if account is None or account.status != UserStatus.UNCONFIRMED:
            raise InvalidInput(CODE_FAILED)
        await self._consume_code(CONFIRM, account.id, code)

        def confirmed(a: IdentityAccount) -> dict[str, Any]:
            return {"status": UserStatus.CONFIRMED} if a.status == UserStatus.UNCONFIRMED else {}

        await self._change_account(account.id, confirmed)

    async def login(self, username: str, password: str) -> AuthTokens:
        account = await self._account_named(username)
        password_hash = account.password_hash if account is not None else await self._dummy()
        ok = await verify_password(self._hasher, password_hash, password)
        if account is None or not ok or not account.enabled:
            raise AuthenticationFailed(LOGIN_FAILED)
        if account.status == UserStatus.UNCONFIRMED:
            # The password proves the caller owns the account: send a new code, say no more.
            await self._send_code(CONFIRM, account)
            raise AuthenticationFailed(LOGIN_FAILED)
        if self._hasher.check_needs_rehash(password_hash):
            new_hash = await hash_password(self._hasher, password)
            # Changed meanwhile (a new password, say): rehash on the next login.
            with contextlib.suppress(ConcurrencyConflict):
                account = await self._accounts.update_fields(
                    account.id, {"password_hash": new_hash}, expected_version=account.version
                )
        return await self._start_session(account)

    # --- IdentityProvider: sessions ------------------------------------------------------------

    async def refresh(self, refresh_token: str, username: str | None = None) -> AuthTokens:
        parts = split_refresh_token(refresh_token)
        if parts is None:
            raise AuthenticationFailed(REFRESH_FAILED)
        session_id, secret = parts
        presented = digest(secret)
        for _ in range(CAS_ATTEMPTS):
            session = await self._sessions.get(session_id)
            if session is None or (username is not None and username != session.username):
                raise AuthenticationFailed(REFRESH_FAILED)
            now = self._clock()
            if session.revoked or session.expires_at <= now:
                raise AuthenticationFailed(REFRESH_FAILED)
            following = self._tokens.next_refresh_secret(session_id, presented)
            if hmac.compare_digest(presented, session.current):
                try:
                    await self._sessions.update_fields(
                        session_id,
                        {
                            "current": digest(following),
                            "previous": presented,
                            "rotated_at": now,
                            "generation": session.generation + 1,
                        },
                        expected_version=session.version,
                    )
                except ConcurrencyConflict:
                    continue  # a parallel refresh won: the next read sees its rotation
                except NotFound:
                    raise AuthenticationFailed(REFRESH_FAILED) from None
                return await self._reissue(session, following, now, presented)
            just_rotated = now - session.rotated_at <= self._grace
            if (
                session.previous
                and just_rotated
                and hmac.compare_digest(presented, session.previous)
            ):
                # The same token again, just after its rotation: the same new pair.
                return await self._reissue(session, following, session.rotated_at, presented)
            if self._was_issued_in(session, secret):
                await self._revoke_sessions([session_id])
                logger.warning("refresh token replay for %r: session revoked", session.username)
            raise AuthenticationFailed(REFRESH_FAILED)
        raise ConcurrencyConflict("identity_session", session_id, None)

    async def logout(self, access_token: str) -> None:
        principal = await self._verifier.verify(access_token)
        await self._revoke_tokens(principal.subject)
        await self._end_sessions(principal.subject)

    async def revoke(self, refresh_token: str, username: str | None = None) -> None:
        parts = split_refresh_token(refresh_token)
        if parts is None:
            return  # RFC 7009: revoking an unknown token is not an error
        session_id, secret = parts
        session = await self._sessions.get(session_id)
        if session is None or (username is not None and username != session.username):
            return
        presented = digest(secret)
        if presented in (session.current, session.previous) or self._was_issued_in(session, secret):
            await self._revoke_sessions([session_id])

    # --- IdentityProvider: passwords -----------------------------------------------------------

    async def forgot_password(self, username: str) -> PasswordResetResult:
        account = await self._account_named(username)
        if account is None or not account.enabled:
            # One round trip, as a real request's code write costs; nothing stored.
            await self._codes.get(code_id(RESET, "-"))
            return PasswordResetResult(delivery=None)
        await self._send_code(RESET, account)
        return PasswordResetResult(CodeDelivery("EMAIL", mask_email(account.email), "email"))

    async def confirm_forgot_password(self, username: str, code: str, new_password: str) -> None:
        self._policy.check(new_password)
        account = await self._account_named(username)
        if account is None:
            raise InvalidInput(CODE_FAILED)
        await self._consume_code(RESET, account.id, code)
        new_hash = await hash_password(self._hasher, new_password)

        def reset(a: IdentityAccount) -> dict[str, Any]:
            changes: dict[str, Any] = {
                "password_hash": new_hash,
                "token_version": a.token_version + 1,
            }
            if a.status == UserStatus.RESET_REQUIRED:
                changes["status"] = UserStatus.CONFIRMED
            return changes

        await self._change_account(account.id, reset)
        # A reset means the old password may be known: end every session.
        await self._end_sessions(account.id)

    async def change_password(
        self, access_token: str, old_password: str, new_password: str
    ) -> None:
        principal = await self._verifier.verify(access_token)
        account = await self._accounts.get(principal.subject)
        if account is None:
            raise AuthenticationFailed("The token's user no longer exists")
        if not await verify_password(self._hasher, account.password_hash, old_password):
            raise AuthenticationFailed("Incorrect password")
        self._policy.check(new_password)
        new_hash = await hash_password(self._hasher, new_password)
        await self._change_account(
            account.id,
            lambda a: {"password_hash": new_hash, "token_version": a.token_version + 1},
        )
        # The other sessions end; this one's refresh token gets fresh access tokens.
        current = principal.claims.get("sid")
        await self._end_sessions(account.id, keep=current if isinstance(current, str) else None)
        await self._messages.send(
            OutgoingMessage(MessagePurpose.PASSWORD_CHANGED, account.username, account.email)
        )

    # --- IdentityProvider: administration ------------------------------------------------------

    async def get_user(self, username: str) -> UserInfo:
        return _info(await self._account_or_404(username), with_roles=True)

    async def ensure_user(
        self, username: str, email: str, password: str, roles: Sequence[str] = ()
    ) -> UserInfo:
        wanted = unique_roles(roles)
        for role in wanted:
            check_role(role)
        account = await self._account_named(username)
        if account is None:
            check_username(username)
            self._policy.check(password)
            password_hash = await hash_password(self._hasher, password)
            try:
                account = await self._accounts.add(
                    IdentityAccount(
                        id=str(uuid.uuid4()),
                        username=username,
                        email=email,
                        password_hash=password_hash,
                        status=UserStatus.CONFIRMED,
                        created_at=self._now(),
                        roles=list(wanted),
                    )
                )
                return _info(account, with_roles=True)
            except AlreadyExists:
                account = await self._account_or_404(username)
        account = await self._change_roles(account, add=wanted)
        return _info(account, with_roles=True)

    async def assign_role(self, username: str, role: str) -> None:
        check_role(role)
        await self._change_roles(await self._account_or_404(username), add=(role,))

    async def remove_role(self, username: str, role: str) -> None:
        check_role(role)
        await self._change_roles(await self._account_or_404(username), remove=(role,))

    async def disable_user(self, username: str) -> None:
        account = await self._account_or_404(username)
        await self._change_account(
            account.id,
            lambda a: {"enabled": False, "token_version": a.token_version + 1} if a.enabled else {},
        )
        await self._end_sessions(account.id)

    async def enable_user(self, username: str) -> None:
        account = await self._account_or_404(username)
        await self._change_account(account.id, lambda a: {} if a.enabled else {"enabled": True})

    async def delete_user(self, username: str) -> None:
        account = await self._account_or_404(username)
        try:
            await self._accounts.delete(account.id)
        except NotFound:
            raise NotFound("user", username) from None
        # The account is gone, so its tokens already fail; what is left is cleanup.
        sessions = await self._sessions.find_all({"subject": account.id})
        await self._sessions.delete_many([s.id for s in sessions])
        await self._codes.delete_many([code_id(p, account.id) for p in sorted(CODE_PURPOSES)])

    async def list_users(
        self, limit: int = 50, cursor: str | None = None, role: str | None = None
    ) -> UserPage:
        if not 1 <= limit <= MAX_USER_PAGE:
            raise InvalidQuery(f"limit must be between 1 and {MAX_USER_PAGE}")
        conditions: list[dict[str, Any]] = []
        if cursor is not None:
            conditions.append({"username": {"gt": decode_cursor(cursor)}})
        if role is not None:
            conditions.append({"roles": {"contains": role}})
        query = Query(
            filter={"and": conditions} if conditions else None, sort="username", limit=limit + 1
        )
        page = (await self._accounts.find(query)).items
        items = tuple(_info(a, with_roles=False) for a in page[:limit])
        next_cursor = encode_cursor(page[limit - 1].username) if len(page) > limit else None
        return UserPage(items, next_cursor)

    # --- internals -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:  # the first unknown username since start-up
            self._dummy_hash = await hash_password(self._hasher, secrets.token_urlsafe(24))
        return self._dummy_hash

    async def _account_named(self, username: str) -> IdentityAccount | None:
        if not USERNAME_PATTERN.match(username):
            return None
        return await self._accounts.get_by("username", username)

    async def _account_or_404(self, username: str) -> IdentityAccount:
        account = await self._account_named(username)
        if account is None:
            raise NotFound("user", username)
        return account

    async def _change_account(
        self, subject: str, changes_of: Callable[[IdentityAccount], Mapping[str, Any]]
    ) -> IdentityAccount:
        """Compare-and-set: changes computed from a fresh read, written only if nothing changed
        since; retried from a new read otherwise. No changes: no write."""
        for _ in range(CAS_ATTEMPTS):
            account = await self._accounts.get(subject)
            if account is None:
                raise NotFound("user", subject)
            changes = changes_of(account)
            if not changes:
                return account
            try:
                return await self._accounts.update_fields(
                    subject, changes, expected_version=account.version
                )
            except ConcurrencyConflict:
                continue
        raise ConcurrencyConflict("identity_account", subject, None)

    async def _change_roles(
        self, account: IdentityAccount, *, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> IdentityAccount:
        def changes(a: IdentityAccount) -> dict[str, Any]:
            roles = (set(a.roles) | set(add)) - set(remove)
            if roles == set(a.roles):
                return {}
            # Tokens carry the roles: those issued before the change must not outlive it.
            return {"roles": sorted(roles), "token_version": a.token_version + 1}

        return await self._change_account(account.id, changes)

    async def _revoke_tokens(self, subject: str) -> None:
        with contextlib.suppress(NotFound):
            await self._change_account(subject, lambda a: {"token_version": a.token_version + 1})

    async def _end_sessions(self, subject: str, keep: str | None = None) -> None:
        sessions = await self._sessions.find_all({"subject": subject, "revoked": False})
        await self._revoke_sessions([s.id for s in sessions if s.id != keep])

    async def _revoke_sessions(self, session_ids: Sequence[str]) -> None:
        async def revoke(session_id: str) -> None:
            with contextlib.suppress(NotFound):
                await self._sessions.update_fields(session_id, {"revoked": True})

        await _gather(revoke(s) for s in session_ids)

    async def _start_session(self, account: IdentityAccount) -> AuthTokens:
        now = self._clock()
        session_id = uuid.uuid4().hex
        secret = self._tokens.new_refresh_secret()
        await self._sessions.add(
            IdentitySession(
                id=session_id,
                subject=account.id,
                username=account.username,
                current=digest(secret),
                expires_at=now + self._refresh_ttl,
            )
        )
        return self._tokens.issue(account, session_id, secret, issued_at=now)

    async def _reissue(
        self, session: IdentitySession, secret: str, issued_at: float, presented: str
    ) -> AuthTokens:
        account = await self._accounts.get(session.subject)
        if account is None or not account.enabled:
            raise AuthenticationFailed(REFRESH_FAILED)
        return self._tokens.issue(
            account, session.id, secret, issued_at=issued_at, jti_seed=f"{session.id}:{presented}"
        )

    def _was_issued_in(self, session: IdentitySession, secret: str) -> bool:
        """Whether ``secret`` is an earlier refresh secret of ``session``: following the
        derivation forward from it reaches the session's current one."""
        step = digest(secret)
        for _ in range(min(session.generation, MAX_REFRESH_GENERATIONS) + 1):
            if step == session.current:
                return True
            if step == session.previous:
                # One more step reaches current, by construction.
                return True
            step = digest(self._tokens.next_refresh_secret(session.id, step))
        return False

    async def _send_code(self, purpose: str, account: IdentityAccount) -> None:
        code = f"{secrets.randbelow(10**6):06d}"
        await self._codes.upsert(
            IdentityCode(
                id=code_id(purpose, account.id),
                digest=digest(code),
                expires_at=self._clock() + self._code_ttl[purpose],
                attempts_left=self._max_code_attempts,
            )
        )
        await self._messages.send(OutgoingMessage(purpose, account.username, account.email, code))

    async def _consume_code(self, purpose: str, subject: str, code: str) -> None:
        """Accept the code once, or count a failed attempt (the last one discards the code).
        Every step is conditioned on the version read, so concurrent tries are all counted."""
        key = code_id(purpose, subject)
        presented = digest(code)
        for _ in range(CAS_ATTEMPTS):
            pending = await self._codes.get(key)
            if pending is None:
                raise InvalidInput(CODE_FAILED)
            try:
                if pending.expires_at <= self._clock():
                    await self._codes.delete(key, expected_version=pending.version)
                    raise InvalidInput(CODE_FAILED)
                if hmac.compare_digest(pending.digest, presented):
                    await self._codes.delete(key, expected_version=pending.version)
                    return
                left = pending.attempts_left - 1
                if left <= 0:
                    await self._codes.delete(key, expected_version=pending.version)
                else:
                    await self._codes.update_fields(
                        key, {"attempts_left": left}, expected_version=pending.version
                    )
            except (ConcurrencyConflict, NotFound):
                continue  # another attempt got in between: count this one on a fresh read
            raise InvalidInput(CODE_FAILED)
        raise InvalidInput(CODE_FAILED)

    async def _seed(self, roles: Sequence[str]) -> None:
        for role in roles:
            check_role(role)
            if await self._account_named(role) is not None:
                continue
            secret = self._seed_password or generate_password()
            email = f"{role}@{self._seed_domain}"
            try:
                await self._accounts.add(
                    IdentityAccount(
                        id=str(uuid.uuid4()),
                        username=role,
                        email=email,
                        password_hash=await hash_password(self._hasher, secret),
                        status=UserStatus.CONFIRMED,
                        created_at=self._now(),
                        roles=[role],
                    )
                )
            except AlreadyExists:
                continue  # another worker seeded it first
            if self._seed_password is None:
                await self._messages.send(
                    OutgoingMessage(MessagePurpose.SEED_PASSWORD, role, email, secret)
                )


async def _gather(tasks: Iterable[Awaitable[None]]) -> None:
    await asyncio.gather(*tasks)
