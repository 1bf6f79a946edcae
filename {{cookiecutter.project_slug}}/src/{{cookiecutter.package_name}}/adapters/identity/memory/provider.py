"""``MemorySecurityProvider``: the account flows of the identity port, over in-process state.

One ``asyncio.Lock`` guards the accounts, the pending codes and the refresh tokens; argon2 work
runs outside it (in a thread), so one slow hash does not hold up every other request.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

from argon2 import PasswordHasher

from ....ports.errors import (
    AlreadyExists,
    AuthenticationFailed,
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
from ...tokens.hs256 import DEFAULT_KEY_ID, Hs256TokenVerifier
from .codes import (
    CODE_FAILED,
    CodePurpose,
    CodeSink,
    IssuedCode,
    OneTimeCodes,
    logging_code_sink,
    mask_email,
)
from .passwords import PasswordPolicy, generate_password, hash_password, verify_password
from .sessions import SessionTokens
from .users import (
    UserRecord,
    check_role,
    check_username,
    decode_cursor,
    encode_cursor,
)

LOGIN_FAILED = "Incorrect username or password"


class MemorySecurityProvider:
    def __init__(
        self,
        jwt_secret: str,
        jwt_issuer: str,
        jwt_audience: str | None = None,
        *,
        access_token_ttl_seconds: int = 900,
        refresh_token_ttl_seconds: int = 14 * 24 * 3600,
        leeway_seconds: float = 30,
        key_id: str = DEFAULT_KEY_ID,
        code_sink: CodeSink = logging_code_sink,
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
            raise ValueError("MemorySecurityProvider needs a non-empty jwt_secret")
        audience = jwt_audience or jwt_issuer
        self._sink = code_sink
        self._auto_confirm = auto_confirm
        self._policy = password_policy or PasswordPolicy()
        self._hasher = password_hasher or PasswordHasher()
        self._clock = clock
        self._verifier = Hs256TokenVerifier(
            jwt_secret, jwt_issuer, audience, leeway_seconds=leeway_seconds, key_id=key_id
        )
        self._sessions = SessionTokens(
            jwt_secret,
            jwt_issuer,
            audience,
            access_ttl_seconds=access_token_ttl_seconds,
            refresh_ttl_seconds=refresh_token_ttl_seconds,
            key_id=key_id,
            clock=clock,
        )
        self._lock = asyncio.Lock()
        self._users: dict[str, UserRecord] = {}
        self._confirm_codes = OneTimeCodes(confirmation_code_ttl_seconds, max_code_attempts, clock)
        self._reset_codes = OneTimeCodes(reset_code_ttl_seconds, max_code_attempts, clock)
        # Verified against for unknown users, so a miss costs what a wrong password costs. Made
        # on the first miss, not at start-up: one argon2 hash is most of the start-up time.
        self._dummy_hash: str | None = None
        if seed_role_users:
            self._seed(unique_roles(tuple(seed_role_codes)), seed_user_domain, seed_password)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to open; present so the lifespan treats every provider alike."""

    async def close(self) -> None:
        """Nothing to close."""

    async def ping(self) -> None:
        """Always ready: the accounts live in this process."""

    def _seed(self, roles: tuple[str, ...], domain: str, password: str | None) -> None:
        if password is not None:
            self._policy.check(password)
        now = datetime.fromtimestamp(self._clock(), UTC)
        for role in roles:
            check_role(role)
            secret = password if password is not None else generate_password()
            email = f"{role}@{domain}"
            self._users[role] = UserRecord(
                username=role,
                subject=str(uuid.uuid4()),
                email=email,
                password_hash=self._hasher.hash(secret),
                status=UserStatus.CONFIRMED,
                created_at=now,
                roles={role},
            )
            if password is None:
                self._sink(IssuedCode(CodePurpose.SEED_PASSWORD, role, email, secret))

    def _user_or_404(self, username: str) -> UserRecord:
        user = self._users.get(username)
        if user is None:
            raise NotFound("user", username)
        return user

    # --- IdentityProvider ----------------------------------------------------------------------

    async def register(
        self,
        username: str,
        password: str,
        email: str,
        attributes: Mapping[str, str] | None = None,
    ) -> RegistrationResult:
        check_username(username)
        self._policy.check(password)
        password_hash = await hash_password(self._hasher, password)
        async with self._lock:
            if username in self._users:
                raise AlreadyExists("user", "username", username)
            user = UserRecord(
                username=username,
                subject=str(uuid.uuid4()),
                email=email,
                password_hash=password_hash,
                status=UserStatus.CONFIRMED if self._auto_confirm else UserStatus.UNCONFIRMED,
                created_at=datetime.fromtimestamp(self._clock(), UTC),
                attributes=dict(attributes or {}),
            )
            self._users[username] = user
            if self._auto_confirm:
                return RegistrationResult(username, user.subject, confirmed=True)
            code = self._confirm_codes.issue(username)
        self._sink(IssuedCode(CodePurpose.CONFIRM_REGISTRATION, username, email, code))
        delivery = CodeDelivery("EMAIL", mask_email(email), "email")
        return RegistrationResult(username, user.subject, confirmed=False, delivery=delivery)

    async def confirm_registration(self, username: str, code: str) -> None:
        async with self._lock:
            self._confirm_codes.consume(username, code)
            user = self._users.get(username)
            if user is not None:
                user.status = UserStatus.CONFIRMED

    async def login(self, username: str, password: str) -> AuthTokens:
        async with self._lock:
            user = self._users.get(username)
            password_hash = user.password_hash if user is not None else self._dummy_hash
        if password_hash is None:  # the first unknown username since start-up
            password_hash = self._dummy_hash = await hash_password(
                self._hasher, secrets.token_urlsafe(24)
            )
        ok = await verify_password(self._hasher, password_hash, password)
        if user is None or not ok or not user.enabled:
            raise AuthenticationFailed(LOGIN_FAILED)
        if user.status == UserStatus.UNCONFIRMED:
            raise AuthenticationFailed("User is not confirmed")
        if self._hasher.check_needs_rehash(password_hash):
            new_hash = await hash_password(self._hasher, password)
        else:
            new_hash = None
        async with self._lock:
            if new_hash is not None and user.password_hash == password_hash:
                user.password_hash = new_hash
            self._sessions.prune()
            return self._sessions.issue(user, session=str(uuid.uuid4()))

    async def refresh(self, refresh_token: str, username: str | None = None) -> AuthTokens:
        async with self._lock:
            return self._sessions.rotate(refresh_token, username, self._users)

    async def logout(self, access_token: str) -> None:
        principal = await self._verifier.verify(access_token)
        async with self._lock:
            self._sessions.revoke_user(principal.username)

    async def revoke(self, refresh_token: str, username: str | None = None) -> None:
        async with self._lock:
            self._sessions.revoke(refresh_token, username)

    async def forgot_password(self, username: str) -> PasswordResetResult:
        async with self._lock:
            user = self._users.get(username)
            if user is None or not user.enabled:
                return PasswordResetResult(delivery=None)
            code = self._reset_codes.issue(username)
            email = user.email
        self._sink(IssuedCode(CodePurpose.RESET_PASSWORD, username, email, code))
        return PasswordResetResult(CodeDelivery("EMAIL", mask_email(email), "email"))

    async def confirm_forgot_password(self, username: str, code: str, new_password: str) -> None:
        self._policy.check(new_password)
        async with self._lock:
            self._reset_codes.consume(username, code)
        password_hash = await hash_password(self._hasher, new_password)
        async with self._lock:
            user = self._users.get(username)
            if user is None:
                raise InvalidInput(CODE_FAILED)
            user.password_hash = password_hash
            if user.status == UserStatus.RESET_REQUIRED:
                user.status = UserStatus.CONFIRMED
            # A reset means the old password may be known: end every session.
            self._sessions.revoke_user(username)

    async def change_password(
        self, access_token: str, old_password: str, new_password: str
    ) -> None:
        principal = await self._verifier.verify(access_token)
        async with self._lock:
            user = self._users.get(principal.username)
            if user is None or user.subject != principal.subject:
                raise AuthenticationFailed("The token's user no longer exists")
            old_hash = user.password_hash
        if not await verify_password(self._hasher, old_hash, old_password):
            raise AuthenticationFailed("Incorrect password")
        self._policy.check(new_password)
        new_hash = await hash_password(self._hasher, new_password)
        async with self._lock:
            user.password_hash = new_hash

    async def get_user(self, username: str) -> UserInfo:
        async with self._lock:
            return self._user_or_404(username).info(with_roles=True)

    async def ensure_user(
        self, username: str, email: str, password: str, roles: Sequence[str] = ()
    ) -> UserInfo:
        wanted = unique_roles(roles)
        for role in wanted:
            check_role(role)
        async with self._lock:
            exists = username in self._users
        if not exists:
            check_username(username)
            self._policy.check(password)
            password_hash = await hash_password(self._hasher, password)
        async with self._lock:
            user = self._users.get(username)
            if user is None:
                user = UserRecord(
                    username=username,
                    subject=str(uuid.uuid4()),
                    email=email,
                    password_hash=password_hash,
                    status=UserStatus.CONFIRMED,
                    created_at=datetime.fromtimestamp(self._clock(), UTC),
                )
                self._users[username] = user
            user.roles.update(wanted)
            return user.info(with_roles=True)

    async def assign_role(self, username: str, role: str) -> None:
        check_role(role)
        async with self._lock:
            self._user_or_404(username).roles.add(role)

    async def remove_role(self, username: str, role: str) -> None:
        check_role(role)
        async with self._lock:
            self._user_or_404(username).roles.discard(role)

    async def list_users(
        self, limit: int = 50, cursor: str | None = None, role: str | None = None
    ) -> UserPage:
        if not 1 <= limit <= MAX_USER_PAGE:
            raise InvalidQuery(f"limit must be between 1 and {MAX_USER_PAGE}")
        after = decode_cursor(cursor) if cursor is not None else None
        async with self._lock:
            names = sorted(
                name
                for name, user in self._users.items()
                if (role is None or role in user.roles) and (after is None or name > after)
            )
            page = names[: limit + 1]
            items = tuple(self._users[n].info(with_roles=False) for n in page[:limit])
        next_cursor = encode_cursor(page[limit - 1]) if len(page) > limit else None
        return UserPage(items, next_cursor)
